// The run folder's layout: checkpoint-N/ names, finding the latest, rotation, tokenizer files.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
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
// An exclusive lock on output_dir for the life of a run (flock on output_dir/.dpo.lock, which
// records the holder's pid): a second run into the same folder stops with a UserError instead of
// interleaving checkpoints with the first. The kernel drops the lock when the holder dies, even by
// SIGKILL. Also the first write into output_dir: an unwritable folder is reported here.
class OutputDirLock {
 public:
  explicit OutputDirLock(const std::filesystem::path& output_dir);
  ~OutputDirLock();
  OutputDirLock(const OutputDirLock&) = delete;
  OutputDirLock& operator=(const OutputDirLock&) = delete;

 private:
  int fd_ = -1;
};

// Cleans up after a run that was killed in output_dir (call it holding the OutputDirLock, when
// every temporary there is stale): removes .checkpoint-N.tmp staging folders, .deleting-* folders,
// .model.tmp and NAME.tmp.PID files of atomic writes; a checkpoint-N.old.PID (a kill between the
// two renames that replace checkpoint-N) is put back when checkpoint-N is missing, else removed.
// Returns the names it removed or restored, for the log.
std::vector<std::string> clean_stale_temporaries(const std::filesystem::path& output_dir);

// Copies tokenizer.json, tokenizer_config.json, special_tokens_map.json (those present) and
// tokenizer.model from `tokenizer_dir` to `dir`.
void copy_tokenizer_files(const std::filesystem::path& tokenizer_dir,
                          const std::filesystem::path& dir);
// Moves every entry of `from` into `to` (replacing same names) and removes `from`.
void move_contents(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace dpo
