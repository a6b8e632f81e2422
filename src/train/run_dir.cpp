#include "train/run_dir.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace dpo {

std::filesystem::path checkpoint_path(const std::filesystem::path& output_dir, int64_t step) {
  return output_dir / fmt::format("checkpoint-{}", step);
}

std::vector<std::pair<int64_t, std::filesystem::path>> list_checkpoints(
    const std::filesystem::path& output_dir) {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) return found;
  for (const auto& entry : fs::directory_iterator(output_dir)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename().string();
    if (!starts_with(name, "checkpoint-")) continue;
    std::string digits = name.substr(11);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    found.emplace_back(std::stoll(digits), entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& output_dir) {
  auto all = list_checkpoints(output_dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

std::filesystem::path resolve_resume_checkpoint(const std::string& setting,
                                                const std::filesystem::path& output_dir) {
  std::filesystem::path dir;
  if (setting == "latest") {
    auto latest = latest_checkpoint(output_dir);
    if (!latest)
      throw_user_error(
          "resume_from_checkpoint: latest: no checkpoint-N folder in {} (nothing to resume; "
          "remove resume_from_checkpoint to start a new run)",
          output_dir.string());
    dir = *latest;
  } else {
    dir = setting;
  }
  if (!fs::exists(dir / "trainer_state.json"))
    throw_user_error("resume_from_checkpoint: {} is not a checkpoint (no trainer_state.json)",
                     dir.string());
  return dir;
}

void rotate_checkpoints(const std::filesystem::path& output_dir, int64_t limit,
                        const std::filesystem::path& keep) {
  auto all = list_checkpoints(output_dir);
  int64_t excess = static_cast<int64_t>(all.size()) - limit;
  for (const auto& [step, path] : all) {
    if (excess <= 0) break;
    if (fs::equivalent(path, keep)) continue;
    // Renamed first: a kill during the removal must not leave a partial checkpoint-N behind.
    fs::path doomed = output_dir / fmt::format(".deleting-checkpoint-{}.{}", step, ::getpid());
    fs::rename(path, doomed);
    fs::remove_all(doomed);
    --excess;
  }
}

void copy_tokenizer_files(const std::filesystem::path& tokenizer_dir,
                          const std::filesystem::path& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "tokenizer.model", "chat_template.jinja"}) {
    fs::path source = tokenizer_dir / name;
    if (fs::exists(source)) fs::copy_file(source, dir / name, fs::copy_options::overwrite_existing);
  }
}

void move_contents(const std::filesystem::path& from, const std::filesystem::path& to) {
  for (const auto& entry : fs::directory_iterator(from)) {
    fs::path target = to / entry.path().filename();
    if (fs::exists(target)) fs::remove_all(target);
    fs::rename(entry.path(), target);
  }
  fs::remove_all(from);
}

}  // namespace dpo
