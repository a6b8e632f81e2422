#include "train/run_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "data/model_tokenizer.h"
#include "io/gguf_load.h"
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
    fs::path doomed = output_dir / fmt::format(".deleting-checkpoint-{}", step);
    fs::remove_all(doomed);
    fs::rename(path, doomed);
    fs::remove_all(doomed);
    --excess;
  }
}

namespace {

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), ::isdigit);
}

// "NAME.tmp.PID" or "NAME.old.PID": NAME, else "".
std::string stem_before_pid_suffix(const std::string& name, const std::string& suffix) {
  const size_t at = name.rfind(suffix);
  if (at == std::string::npos || at == 0 || !all_digits(name.substr(at + suffix.size()))) return "";
  return name.substr(0, at);
}

std::string lock_holder(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
  std::string pid = n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  while (!pid.empty() && !::isdigit(static_cast<unsigned char>(pid.back()))) pid.pop_back();
  return pid.empty() ? "another process" : "another dpo run (pid " + pid + ")";
}

}  // namespace

OutputDirLock::OutputDirLock(const std::filesystem::path& output_dir) {
  const fs::path path = output_dir / ".dpo.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw_user_error("output_dir {}: cannot write there ({})", output_dir.string(),
                     std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    const std::string holder = lock_holder(fd_);
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw_user_error(
          "output_dir {}: in use by {}; wait for it to end or choose another output_dir",
          output_dir.string(), holder);
    throw_user_error("output_dir {}: cannot lock {} ({})", output_dir.string(), path.string(),
                     std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw_user_error("output_dir {}: cannot write there ({})", output_dir.string(),
                     std::strerror(err));
  }
}

OutputDirLock::~OutputDirLock() {
  if (fd_ < 0) return;
  const int truncated = ::ftruncate(fd_, 0);  // no stale pid for the next reader
  (void)truncated;
  ::close(fd_);  // closing the descriptor drops the flock
}

std::vector<std::string> clean_stale_temporaries(const std::filesystem::path& output_dir) {
  std::vector<std::string> cleaned;
  std::vector<fs::directory_entry> entries;
  for (const auto& entry : fs::directory_iterator(output_dir)) entries.push_back(entry);
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    const std::string replaced = stem_before_pid_suffix(name, ".old.");
    if (starts_with(replaced, "checkpoint-") && entry.is_directory()) {
      if (!fs::exists(output_dir / replaced)) {
        fs::rename(entry.path(), output_dir / replaced);
      } else {
        fs::remove_all(entry.path());
      }
      cleaned.push_back(name);
      continue;
    }
    const bool staging = starts_with(name, ".checkpoint-") && ends_with(name, ".tmp");
    const bool stale = staging || starts_with(name, ".deleting-") || name == ".model.tmp" ||
                       !stem_before_pid_suffix(name, ".tmp.").empty();
    if (!stale) continue;
    fs::remove_all(entry.path());
    cleaned.push_back(name);
  }
  std::sort(cleaned.begin(), cleaned.end());
  return cleaned;
}

void copy_tokenizer_files(const std::filesystem::path& tokenizer_dir,
                          const std::filesystem::path& dir) {
  if (is_gguf_file(tokenizer_dir)) {  // a GGUF model: its vocabulary as tokenizer files
    auto [tokenizer_json, config_json] = gguf_tokenizer_texts(tokenizer_dir);
    write_file_atomic(dir / "tokenizer.json", tokenizer_json);
    write_file_atomic(dir / "tokenizer_config.json", config_json);
    return;
  }
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "tokenizer.model", "chat_template.jinja"}) {
    fs::path source = tokenizer_dir / name;
    // Written, not copied: atomic, and writable later even when the source file is read-only.
    if (fs::exists(source)) write_file_atomic(dir / name, read_file(source));
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
