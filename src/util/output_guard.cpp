#include "util/output_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "util/error.h"
#include "util/fs.h"
#include "util/json_depth.h"
#include "util/log.h"
#include "util/strings.h"

namespace dpo {

namespace {

// The absolute path with symbolic links of its existing part resolved.
fs::path resolved(const fs::path& path) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) out = fs::absolute(path).lexically_normal();
  if (out.filename().empty() && out.has_parent_path() && out != out.root_path())
    out = out.parent_path();
  return out;
}

// The same file or folder: by identity where both exist (bind mounts, hard links), else by path.
bool same_path(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return a == b;
}

// `inner` is `outer` or lies inside it (both resolved).
bool is_within(const fs::path& inner, const fs::path& outer) {
  for (fs::path p = inner;; p = p.parent_path()) {
    if (same_path(p, outer)) return true;
    if (p == p.root_path() || !p.has_parent_path() || p.parent_path() == p) return false;
  }
}

bool process_is_alive(long pid) {
  if (pid <= 0) return false;
  if (pid == static_cast<long>(::getpid())) return true;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

// "NAME.tmp.PID" -> PID when `name` is `stem` + `suffix` + digits, else -1.
long pid_after(const std::string& name, const std::string& stem, const std::string& suffix) {
  const std::string head = stem + suffix;
  if (name.size() <= head.size() || name.compare(0, head.size(), head) != 0) return -1;
  const std::string digits = name.substr(head.size());
  if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return -1;
  return std::stol(digits);
}

}  // namespace

void check_output_apart(const fs::path& output, const std::string& option,
                        const std::vector<ProtectedPath>& inputs, const std::string& advice) {
  const fs::path out = resolved(output);
  for (const ProtectedPath& input : inputs) {
    if (input.path.empty()) continue;
    const fs::path in = resolved(input.path);
    std::string relation;
    if (same_path(out, in)) {
      relation = fmt::format("is the {} {} ({})", input.role, input.folder ? "folder" : "file",
                             input.option);
    } else if (input.folder && is_within(out, in)) {
      relation = fmt::format("lies inside the {} folder {} ({})", input.role, input.path.string(),
                             input.option);
    } else if (is_within(in, out)) {
      relation = fmt::format("contains the {} {} {} ({})", input.role,
                             input.folder ? "folder" : "file", input.path.string(), input.option);
    }
    if (!relation.empty())
      throw_user_error("{} {}: {}; {}", option, output.string(), relation, advice);
  }
}

bool is_previous_output(const fs::path& dir, const std::string& command) {
  std::error_code ec;
  const fs::path marker = dir / kOutputMarker;
  if (!fs::is_regular_file(marker, ec)) return false;
  try {
    const std::string text = read_file(marker);
    if (!json_depth_problem(text).empty()) return false;
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    return j.is_object() && j.contains("written_by") && j["written_by"].is_string() &&
           j["written_by"].get<std::string>() == command;
  } catch (const UserError&) {
    return false;
  }
}

void check_replaceable_output(const ReplaceableOutput& output,
                              const std::vector<ProtectedPath>& inputs) {
  const std::string name = output.option + " " + output.path.string();
  check_output_apart(output.path, output.option, inputs, "write to a new folder outside them");
  const fs::path out = resolved(output.path);
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  if (!ec && is_within(resolved(cwd), out))
    throw_user_error(
        "{}: {} the current folder; choose a new folder (the output replaces the "
        "folder whole)",
        name, same_path(resolved(cwd), out) ? "is" : "contains");
  const fs::file_status status = fs::symlink_status(output.path, ec);
  if (!fs::exists(status)) return;
  if (output.overwrite) return;
  if (fs::is_directory(output.path, ec)) {
    if (fs::is_empty(output.path, ec) && !ec) return;
    if (is_previous_output(output.path, output.command)) return;
    throw_user_error(
        "{}: exists, is not empty and was not written by `{}` (no {} in it); choose a new folder, "
        "or add --overwrite to replace it and delete its contents",
        name, output.command, kOutputMarker);
  }
  if (output.is_previous_file && output.is_previous_file(output.path)) return;
  throw_user_error(
      "{}: exists and is a file not written by `{}`; choose a new name, or add --overwrite to "
      "replace it",
      name, output.command);
}

std::vector<std::string> remove_stale_temporaries(const fs::path& target) {
  std::vector<std::string> done;
  fs::path path = fs::absolute(target).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  const fs::path parent = path.parent_path();
  const std::string stem = path.filename().string();
  std::error_code ec;
  std::vector<fs::path> stale_tmp, stale_old;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= stem.size() || name.compare(0, stem.size(), stem) != 0) continue;
    const long tmp_pid = pid_after(name, stem, ".tmp.");
    const long old_pid = pid_after(name, stem, ".old.");
    if (tmp_pid > 0 && !process_is_alive(tmp_pid)) stale_tmp.push_back(it->path());
    if (old_pid > 0 && !process_is_alive(old_pid)) stale_old.push_back(it->path());
  }
  for (const fs::path& old : stale_old) {
    std::error_code rename_ec;
    if (!fs::exists(fs::symlink_status(path, ec))) {
      fs::rename(old, path, rename_ec);
      if (!rename_ec) {
        done.push_back(fmt::format("put back {} as {} (a replacement was killed half-way)",
                                   old.filename().string(), stem));
        continue;
      }
    }
    fs::remove_all(old, ec);
    done.push_back(fmt::format("removed {} (left by a killed process)", old.filename().string()));
  }
  for (const fs::path& tmp : stale_tmp) {
    fs::remove_all(tmp, ec);
    done.push_back(fmt::format("removed {} (left by a killed process)", tmp.filename().string()));
  }
  return done;
}

// ---- StagedOutput

StagedOutput::StagedOutput(fs::path target, std::string marker_command)
    : marker_command_(std::move(marker_command)) {
  target_ = fs::absolute(target).lexically_normal();
  if (target_.filename().empty()) target_ = target_.parent_path();
  for (const std::string& line : remove_stale_temporaries(target_))
    log_info("{}: {}", target_.parent_path().string(), line);
  tmp_ = target_;
  tmp_ += ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove_all(tmp_, ec);
  register_temporary(tmp_);
  ensure_directory(tmp_);
}

StagedOutput::~StagedOutput() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove_all(tmp_, ignored);
  unregister_temporary(tmp_);
}

void StagedOutput::commit() {
  if (!marker_command_.empty()) {
    nlohmann::ordered_json marker = {{"written_by", marker_command_}};
    write_file_atomic(tmp_ / kOutputMarker, marker.dump(2) + "\n");
  }
  commit_directory(tmp_, target_);
  committed_ = true;
  unregister_temporary(tmp_);
}

// ---- the registry of temporaries and the interrupt handler

namespace {

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::set<fs::path>& registry() {
  static std::set<fs::path> paths;
  return paths;
}

int g_signal_pipe[2] = {-1, -1};
struct sigaction g_previous_int, g_previous_term;
std::thread g_watcher;
std::atomic<bool> g_installed{false};

extern "C" void on_interrupt(int signal_number) {
  const int saved = errno;
  const char byte = static_cast<char>(signal_number);
  const ssize_t written = ::write(g_signal_pipe[1], &byte, 1);
  (void)written;
  errno = saved;
}

// Waits for a signal (a byte on the pipe; 0 = stop watching), removes the temporaries, exits.
void watch_signals() {
  char byte = 0;
  for (;;) {
    const ssize_t n = ::read(g_signal_pipe[0], &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || byte == 0) return;
    break;
  }
  std::vector<fs::path> paths;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    paths.assign(registry().begin(), registry().end());
  }
  for (const fs::path& path : paths) {
    std::error_code ec;
    // The main thread may still be writing into a folder: retry until it is gone.
    for (int attempt = 0; attempt < 5 && fs::exists(fs::symlink_status(path, ec)); ++attempt)
      fs::remove_all(path, ec);
    std::fprintf(stderr, "interrupted: removed the unfinished %s\n", path.string().c_str());
  }
  const int signal_number = static_cast<unsigned char>(byte);
  std::fprintf(stderr, "interrupted by %s; nothing was replaced\n",
               signal_number == SIGINT ? "SIGINT (Ctrl-C)" : "SIGTERM");
  std::fflush(stderr);
  ::_exit(128 + signal_number);
}

}  // namespace

void register_temporary(const fs::path& path) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().insert(path);
}

void unregister_temporary(const fs::path& path) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().erase(path);
}

InterruptCleanup::InterruptCleanup() {
  DPO_CHECK(!g_installed.exchange(true), "InterruptCleanup: already installed");
  if (::pipe2(g_signal_pipe, O_CLOEXEC) != 0)
    throw_internal_error("InterruptCleanup: pipe failed ({})", std::strerror(errno));
  g_watcher = std::thread(watch_signals);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
}

InterruptCleanup::~InterruptCleanup() {
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
  const char stop = 0;
  const ssize_t written = ::write(g_signal_pipe[1], &stop, 1);
  (void)written;
  if (g_watcher.joinable()) g_watcher.join();
  ::close(g_signal_pipe[0]);
  ::close(g_signal_pipe[1]);
  g_signal_pipe[0] = g_signal_pipe[1] = -1;
  g_installed = false;
}

}  // namespace dpo
