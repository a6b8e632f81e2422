// A `dpo train` run in a forked child of the test, in process: the trainer's after_step hook
// (RunOptions) kills the child with SIGKILL right after optimizer step `kill_after_step`, the
// way a crash would, to check that resuming reproduces an uninterrupted run.
#pragma once
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "train/config.h"
#include "train/trainer.h"

namespace dpo::testing {

// `config_and_overrides`: the recipe (relative to the source folder) then key=value overrides.
// Output goes to `log`. Returns the child's pid.
inline pid_t start_training_killed_after(const std::vector<std::string>& config_and_overrides,
                                         int64_t kill_after_step,
                                         const std::filesystem::path& log) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (::chdir(DPO_SOURCE_DIR) != 0) ::_exit(126);
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  try {
    std::vector<std::string> overrides(config_and_overrides.begin() + 1,
                                       config_and_overrides.end());
    TrainConfig config =
        load_train_config(config_and_overrides.front(), overrides, TrainMode::kPreference);
    RunOptions options;
    options.handle_signals = true;
    options.show_progress = false;
    options.after_step = [kill_after_step](int64_t step) {
      if (step == kill_after_step) std::raise(SIGKILL);
    };
    run_training(config, TrainMode::kPreference, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    ::_exit(1);
  }
  ::_exit(0);
}

// Waits for the child: true when SIGKILL ended it.
inline bool killed_by_sigkill(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace dpo::testing
