// The run folder's layout: checkpoint-N/ names, finding the latest, rotation, tokenizer files.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace dpo {

// "checkpoint-N".
std::filesystem::path checkpoint_path(const std::filesystem::path& output_dir, int64_t step);
// Committed checkpoints (checkpoint-N directories; temp folders ignored), by ascending step.
std::vector<std::pair<int64_t, std::filesystem::path>> list_checkpoints(
    const std::filesystem::path& output_dir);
// The newest checkpoint, or nullopt.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& output_dir);
// resume_from_checkpoint: "latest" -> the newest in output_dir, else the path. UserError when
// "latest" finds none or the folder has no trainer_state.json.
std::filesystem::path resolve_resume_checkpoint(const std::string& setting,
                                                const std::filesystem::path& output_dir);
// Removes the oldest checkpoints so that at most `limit` remain; never removes `keep`.
void rotate_checkpoints(const std::filesystem::path& output_dir, int64_t limit,
                        const std::filesystem::path& keep);
// Copies tokenizer.json, tokenizer_config.json, special_tokens_map.json (those present) and
// tokenizer.model from `tokenizer_dir` to `dir`.
void copy_tokenizer_files(const std::filesystem::path& tokenizer_dir,
                          const std::filesystem::path& dir);
// Moves every entry of `from` into `to` (replacing same names) and removes `from`.
void move_contents(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace dpo
