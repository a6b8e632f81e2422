// Crash safety of `dpo train`: the tiny run is killed with SIGKILL at seeded random moments, over
// and over, each time resumed with resume_from_checkpoint=latest. After every kill each
// checkpoint-N/ on disk must be complete and loadable (adapter with every LoRA A/B matrix,
// trainer_state.json at step N, optimizer state); half-written folders may exist only under
// other names. At the end a resumed run finishes the training.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
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

#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace {

constexpr int kMaxSteps = 12;
constexpr int kWantedKills = 24;
constexpr double kKillPhaseSeconds = 75.0;

std::vector<std::string> train_arguments(const fs::path& out, bool resume) {
  std::vector<std::string> args = {DPO_BINARY,
                                   "train",
                                   "examples/tiny-cpu.yaml",
                                   "output_dir=" + out.string(),
                                   "max_steps=" + std::to_string(kMaxSteps),
                                   "save_steps=1",
                                   "save_total_limit=2",
                                   "logging_steps=1",
                                   "eval_steps=null",
                                   "eval_prompts=[]",
                                   "--no-progress"};
  if (resume) args.push_back("resume_from_checkpoint=latest");
  return args;
}

// fork + exec of dpo in the source folder (the recipe's paths are relative), output to `log`.
pid_t start_dpo(const std::vector<std::string>& args, const fs::path& log) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (::chdir(DPO_SOURCE_DIR) != 0) ::_exit(126);
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

// Every checkpoint-N/ in `out` is complete; returns the steps seen.
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
