// Crash safety of `dpo train`. The tiny run is killed with SIGKILL at seeded random moments, over
// and over, each time resumed with resume_from_checkpoint=latest. After every kill each
// checkpoint-N/ on disk must be complete and loadable (adapter with every LoRA A/B matrix,
// trainer_state.json at step N, optimizer state); half-written folders may exist only under
// other names. At the end a resumed run finishes the training. Also here: SIGTERM/SIGINT, a disk
// that fills up during a checkpoint, and the cleanup of a killed run's temporaries.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/killed_run.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace {

constexpr int kMaxSteps = 12;
constexpr int kWantedKills = 24;
constexpr double kKillPhaseSeconds = 75.0;

// The recipe with a checkpoint every `save_steps` steps, logging every step.
std::vector<std::string> run_arguments(const fs::path& out, int max_steps, int save_steps,
                                       bool resume, const std::string& save_total_limit = "null") {
  std::vector<std::string> args = {DPO_BINARY,
                                   "train",
                                   "examples/tiny-cpu.yaml",
                                   "output_dir=" + out.string(),
                                   "max_steps=" + std::to_string(max_steps),
                                   "save_steps=" + std::to_string(save_steps),
                                   "save_total_limit=" + save_total_limit,
                                   "logging_steps=1",
                                   "eval_steps=null",
                                   "eval_prompts=[]",
                                   "--no-progress"};
  if (resume) args.push_back("resume_from_checkpoint=latest");
  return args;
}

std::vector<std::string> train_arguments(const fs::path& out, bool resume) {
  return run_arguments(out, kMaxSteps, 1, resume, "2");
}

// How a child dpo starts, besides its arguments.
struct ChildSetup {
  rlim_t file_size_limit = RLIM_INFINITY;  // RLIMIT_FSIZE: writes past it fail like a full disk
};

// fork + exec of dpo in the source folder (the recipe's paths are relative), output to `log`.
pid_t start_dpo(const std::vector<std::string>& args, const fs::path& log,
                const ChildSetup& setup = {}) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (::chdir(DPO_SOURCE_DIR) != 0) ::_exit(126);
  if (setup.file_size_limit != RLIM_INFINITY) {
    rlimit limit{setup.file_size_limit, setup.file_size_limit};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
  }
  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
  }
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// The adapter keys PEFT writes for the recipe: 2 layers x 7 target modules x {A, B}.
std::set<std::string> expected_adapter_keys() {
  std::set<std::string> keys;
  for (int layer = 0; layer < 2; ++layer)
    for (const char* module : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                               "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"})
      for (const char* matrix : {"lora_A", "lora_B"})
        keys.insert("base_model.model.model.layers." + std::to_string(layer) + "." + module + "." +
                    matrix + ".weight");
  return keys;
}

// Every checkpoint-N/ in `out` is complete; returns their steps, ascending.
std::vector<int64_t> check_checkpoints(const fs::path& out) {
  static const std::regex kCheckpointName("checkpoint-([0-9]+)");
  std::vector<int64_t> steps;
  std::error_code ec;
  if (!fs::is_directory(out, ec)) return steps;
  for (const auto& entry : fs::directory_iterator(out)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, kCheckpointName)) continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_TRUE(entry.is_directory());
    const int64_t step = std::stoll(match[1]);
    steps.push_back(step);
    const fs::path dir = entry.path();
    try {
      auto adapter = dpo::SafetensorsFile::open(dir / "adapter_model.safetensors");
      auto names = adapter->names();
      EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), expected_adapter_keys());
      auto state = nlohmann::json::parse(read_text(dir / "trainer_state.json"));
      EXPECT_EQ(state.at("global_step").get<int64_t>(), step);
      auto optimizer = dpo::SafetensorsFile::open(dir / "optimizer.safetensors");
      EXPECT_FALSE(optimizer->names().empty());
      for (const char* file : {"adapter_config.json", "scheduler.json", "rng_state.json"})
        EXPECT_NO_THROW(auto parsed = nlohmann::json::parse(read_text(dir / file))) << file;
    } catch (const std::exception& error) {
      ADD_FAILURE() << "incomplete checkpoint: " << error.what();
    }
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

}  // namespace

TEST(KillResume, SigkillAtRandomMomentsLeavesOnlyCompleteCheckpoints) {
  const fs::path binary = DPO_BINARY;
  if (!fs::exists(binary)) GTEST_SKIP() << "no dpo binary at " << binary;
  const fs::path root = fs::temp_directory_path() / ("dpo_kill_test_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  const fs::path out = root / "run";
  const fs::path log = root / "dpo.log";

  std::mt19937 random(20261128);
  // Kill moments span start-up (model load, tokenization) and the steps with their checkpoints.
  std::uniform_int_distribution<int> delay_ms(50, 4000);
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  int kills = 0, finished_runs = 0;
  int64_t latest_step = 0;
  std::set<int64_t> steps_seen;
  while (kills < kWantedKills && seconds() < kKillPhaseSeconds) {
    const bool resume = !check_checkpoints(out).empty();
    pid_t pid = start_dpo(train_arguments(out, resume), log);
    ASSERT_GT(pid, 0);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms(random));
    int status = 0;
    pid_t done = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (done != pid) {
      ::kill(pid, SIGKILL);
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    }
    if (WIFSIGNALED(status)) {
      ASSERT_EQ(WTERMSIG(status), SIGKILL);
      ++kills;
    } else {
      // It ended on its own: the whole run is done; start again in an empty folder.
      ASSERT_EQ(WEXITSTATUS(status), 0)
          << (resume ? "resumed run: " : "fresh run: ") << read_text(log);
      EXPECT_TRUE(fs::exists(out / "adapter_model.safetensors"));
      ++finished_runs;
    }
    SCOPED_TRACE("after kill " + std::to_string(kills));
    auto steps = check_checkpoints(out);
    if (HasFailure()) break;
    steps_seen.insert(steps.begin(), steps.end());
    int64_t latest = steps.empty() ? 0 : *std::max_element(steps.begin(), steps.end());
    // Resuming continues from the latest checkpoint: progress never goes back.
    if (WIFSIGNALED(status)) {
      EXPECT_GE(latest, latest_step);
    }
    latest_step = latest;
    if (!WIFSIGNALED(status)) {
      fs::remove_all(out);
      latest_step = 0;
    }
  }
  const double kill_phase = seconds();
  EXPECT_GE(kills, 20) << "only " << kills << " kills in " << kill_phase << " s";

  // A last resumed run finishes the training.
  const bool resume = !check_checkpoints(out).empty();
  pid_t pid = start_dpo(train_arguments(out, resume), log);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << read_text(log);
  EXPECT_TRUE(fs::exists(out / "adapter_model.safetensors"));
  auto state = nlohmann::json::parse(read_text(out / "trainer_state.json"));
  EXPECT_EQ(state.at("global_step").get<int64_t>(), kMaxSteps);
  auto final_steps = check_checkpoints(out);
  steps_seen.insert(final_steps.begin(), final_steps.end());
  EXPECT_TRUE(fs::is_directory(out / ("checkpoint-" + std::to_string(kMaxSteps))));

  std::cout << "[kill-resume] " << kills << " SIGKILLs, " << finished_runs
            << " runs that finished before their kill, " << steps_seen.size()
            << " distinct checkpoint steps verified, kill phase " << kill_phase << " s, total "
            << seconds() << " s\n";
  fs::remove_all(root);
}

namespace {

int wait_for_exit_code(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

int64_t logged_steps(const fs::path& metrics) {
  int64_t lines = 0;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);)
    lines += line.find("\"loss\"") != std::string::npos;
  return lines;
}

// Entries of `out` that are temporaries (a dot name other than the lock, or NAME.tmp.PID).
std::vector<std::string> temporaries_in(const fs::path& out) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string name = entry.path().filename().string();
    if ((name[0] == '.' && name != ".dpo.lock") || name.find(".tmp") != std::string::npos)
      found.push_back(name);
  }
  return found;
}

fs::path fresh_root(const std::string& name) {
  const fs::path root =
      fs::temp_directory_path() / ("dpo_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  return root;
}

}  // namespace

// SIGTERM and SIGINT: the run finishes its step, writes checkpoint-N for it (no save_steps falls
// there), exits with 128 + the signal, and a resumed run completes the training.
class StopSignal : public ::testing::TestWithParam<int> {};

TEST_P(StopSignal, FinishesTheStepWritesItsCheckpointExitsAndResumes) {
  const int signal_number = GetParam();
  const std::string name = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
  const fs::path root = fresh_root("signal_" + name);
  const fs::path out = root / "run", log = root / "dpo.log";
  constexpr int kSteps = 40;

  pid_t pid = start_dpo(run_arguments(out, kSteps, 1000, false), log);
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (logged_steps(out / "metrics.jsonl") < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, signal_number);
  ASSERT_EQ(wait_for_exit_code(pid), 128 + signal_number) << read_text(log);
  const std::string text = read_text(log);
  EXPECT_NE(text.find("stopped by " + name + " after step"), std::string::npos) << text;

  const auto steps = check_checkpoints(out);
  ASSERT_EQ(steps.size(), 1u) << text;
  EXPECT_GE(steps[0], 2);
  EXPECT_LT(steps[0], kSteps) << "the run ended before the signal";
  EXPECT_EQ(logged_steps(out / "metrics.jsonl"), steps[0]) << "a step ran past the checkpoint";
  EXPECT_TRUE(temporaries_in(out).empty());

  pid = start_dpo(run_arguments(out, kSteps, 1000, true), log);
  ASSERT_EQ(wait_for_exit_code(pid), 0) << read_text(log);
  auto state = nlohmann::json::parse(read_text(out / "trainer_state.json"));
  EXPECT_EQ(state.at("global_step").get<int64_t>(), kSteps);
  EXPECT_EQ(logged_steps(out / "metrics.jsonl"), kSteps);
  fs::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(Signals, StopSignal, ::testing::Values(SIGTERM, SIGINT),
                         [](const auto& info) {
                           return std::string(info.param == SIGINT ? "SIGINT" : "SIGTERM");
                         });

// A disk that fills up while checkpoint-6 is written (a file size limit stands in for it): the run
// stops with exit status 1 and a message, checkpoints 2 and 4 stay complete, nothing half-written
// is left, and once there is room again the run resumes from checkpoint-4 and finishes.
TEST(FullDisk, ACheckpointThatDoesNotFitLeavesTheEarlierOnesAndTheRunResumes) {
  const fs::path root = fresh_root("full_disk");
  const fs::path out = root / "run", log = root / "dpo.log";
  // args[0] is the binary, args[1] the command: the recipe and its overrides follow.
  const std::vector<std::string> args = run_arguments(out, 8, 2, false);
  std::vector<std::string> recipe(args.begin() + 2, args.end() - 1);  // without --no-progress
  ASSERT_EQ(wait_for_exit_code(dpo::testing::start_training_killed_after(recipe, 5, log)),
            1000 + SIGKILL)
      << read_text(log);
  ASSERT_EQ(check_checkpoints(out), (std::vector<int64_t>{2, 4}));

  ChildSetup full_disk;
  full_disk.file_size_limit = 100000;  // below tokenizer.json: the checkpoint cannot be written
  ASSERT_EQ(wait_for_exit_code(start_dpo(run_arguments(out, 8, 2, true), log, full_disk)), 1);
  const std::string text = read_text(log);
  EXPECT_NE(text.find("error: cannot save " + (out / "checkpoint-6").string()), std::string::npos)
      << text;
  EXPECT_NE(text.find("File too large"), std::string::npos) << text;
  EXPECT_EQ(check_checkpoints(out), (std::vector<int64_t>{2, 4}));
  EXPECT_TRUE(temporaries_in(out).empty());

  ASSERT_EQ(wait_for_exit_code(start_dpo(run_arguments(out, 8, 2, true), log)), 0)
      << read_text(log);
  EXPECT_EQ(check_checkpoints(out), (std::vector<int64_t>{2, 4, 6, 8}));
  auto state = nlohmann::json::parse(read_text(out / "trainer_state.json"));
  EXPECT_EQ(state.at("global_step").get<int64_t>(), 8);
  fs::remove_all(root);
}

// A killed run's staging folder and temporary files are gone once the next run into the folder
// starts, and the log says so.
TEST(StaleTemporaries, TheNextRunRemovesWhatAKilledRunLeft) {
  const fs::path root = fresh_root("stale");
  const fs::path out = root / "run", log = root / "dpo.log";
  fs::create_directories(out / ".checkpoint-3.tmp");
  std::ofstream(out / ".checkpoint-3.tmp" / "adapter_model.safetensors") << "half";
  std::ofstream(out / "metrics.jsonl.tmp.4242") << "half";
  ASSERT_EQ(wait_for_exit_code(start_dpo(run_arguments(out, 2, 1, false), log)), 0)
      << read_text(log);
  const std::string text = read_text(log);
  EXPECT_NE(text.find("cleaned up .checkpoint-3.tmp (left by an interrupted run)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("cleaned up metrics.jsonl.tmp.4242"), std::string::npos) << text;
  EXPECT_TRUE(temporaries_in(out).empty());
  EXPECT_EQ(check_checkpoints(out), (std::vector<int64_t>{1, 2}));
  fs::remove_all(root);
}
