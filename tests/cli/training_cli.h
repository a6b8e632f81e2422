// Helpers of the end-to-end training tests (train_test, ref_free_train_test, kto_train_test):
// run the dpo binary from the source folder with stdout and stderr captured, a fresh folder per
// test, and the last metrics row carrying a key.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "report/metrics_log.h"

namespace dpo::testing {

struct CliRun {
  int status = -1;     // exit code
  std::string output;  // stdout and stderr together
};

// `cd SOURCE && ENV dpo ARGUMENTS --no-progress` (the flag left out for commands without it,
// `training` false); `suite` names the log file.
inline CliRun run_training_cli(const std::string& suite, const std::string& arguments,
                               const std::string& env = "", bool training = true) {
  const std::filesystem::path log =
      std::filesystem::temp_directory_path() / (suite + "_" + std::to_string(::getpid()) + ".log");
  const std::string command = std::string("cd ") + DPO_SOURCE_DIR + " && " + env + " " +
                              DPO_BINARY + " " + arguments + (training ? " --no-progress" : "") +
                              " > " + log.string() + " 2>&1";
  const int raw = std::system(command.c_str());
  CliRun run;
  if (WIFEXITED(raw)) run.status = WEXITSTATUS(raw);
  std::ifstream in(log);
  std::stringstream buffer;
  buffer << in.rdbuf();
  run.output = buffer.str();
  return run;
}

// TMP/SUITE_PID/NAME, removed if it exists (its parent created).
inline std::filesystem::path fresh_test_dir(const std::string& suite, const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / (suite + "_" + std::to_string(::getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir.parent_path());
  return dir;
}

// The last row of `rows` that has `name` (null when none has).
inline const report::MetricsRow* last_row_with(const std::vector<report::MetricsRow>& rows,
                                               const std::string& name) {
  const report::MetricsRow* found = nullptr;
  for (const auto& row : rows)
    if (row.has(name)) found = &row;
  return found;
}

}  // namespace dpo::testing
