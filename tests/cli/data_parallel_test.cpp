// Data-parallel `dpo train` / `dpo sft` on c10d Gloo (CPU): 2 ranks x batch 2 train as 1 process x
// batch 4 (with gradient accumulation, with the precomputed reference, for SFT), every logged
// metric and the final adapter; a rank that dies stops the other with an error and the run
// resumes from its last checkpoint to the numbers of an uninterrupted one; a checkpoint resumes
// only with the world size that wrote it; the launcher's and the environment's errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/training_cli.h"
#include "dist/env.h"
#include "dist/launch.h"
#include "dist/process_group.h"
#include "io/safetensors.h"
#include "report/metrics_log.h"
#include "util/error.h"
#include "util/threads.h"

namespace fs = std::filesystem;

namespace {

using dpo::testing::CliRun;

CliRun run_dpo(const std::string& arguments, const std::string& env = "") {
  return dpo::testing::run_training_cli("dpo_data_parallel_test", arguments, env);
}

fs::path fresh_dir(const std::string& name) {
  return dpo::testing::fresh_test_dir("dpo_data_parallel_test", name);
}

#define SKIP_WITHOUT_GLOO()              \
  if (!dpo::dist::group_support_built()) \
  GTEST_SKIP() << "this build has no c10d Gloo (libgloo-dev was not found)"

// The tiny recipe: 16 pairs, 8 steps, eval every 4, a checkpoint every 4.
std::string recipe(const std::string& command, const fs::path& out, const std::string& extra) {
  const std::string file =
      command == "sft" ? "examples/tiny-cpu-sft.yaml" : "examples/tiny-cpu.yaml";
  return command + " " + file + " output_dir=" + out.string() +
         " max_steps=8 logging_steps=1 eval_steps=4 save_steps=4 threads=1 report_to=[jsonl] "
         "eval_prompts=[] ddp_timeout=60 " +
         extra;
}

// `skip`: keys that may differ (a resumed run's reference_forwards counts its own passes only).
void expect_same_metrics(const fs::path& one, const fs::path& two,
                         const std::set<std::string>& skip = {}) {
  const auto a = dpo::report::read_metrics(one / "metrics.jsonl");
  const auto b = dpo::report::read_metrics(two / "metrics.jsonl");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].step, b[i].step);
    for (const auto& [name, value] : a[i].values) {
      if (dpo::report::is_timing_key(name) || skip.count(name)) continue;
      const std::optional<double> other = b[i].get(name);
      ASSERT_TRUE(other.has_value()) << name << " missing at row " << i;
      // rtol 1e-5; atol 1e-6: float32's resolution of a reward, beta x a log-prob of ~-45
      EXPECT_NEAR(*other, value, 1e-5 * std::fabs(value) + 1e-6)
          << name << " at step " << a[i].step;
    }
  }
}

// AdamW's update lr * m / (sqrt(v) + eps) turns float32 summation noise on gradient entries near
// 0 into differences up to ~1% of lr (see TrainCli.GradientAccumulation...), so the weights agree
// to that, the metrics above to 1e-5.
void expect_same_adapter(const fs::path& one, const fs::path& two, double lr) {
  const auto a = dpo::load_safetensors(one / "adapter_model.safetensors");
  const auto b = dpo::load_safetensors(two / "adapter_model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a)
    EXPECT_TRUE(tensor.allclose(b.at(name), 1e-5, 1e-2 * lr)) << name;
}

// total_flos counts each rank's batch padded to its own longest sequence, as accelerate's ranks
// collate their own batches: one process pads the whole batch to its longest.
const std::set<std::string> kPaddedPerRank = {"total_flos"};

struct Case {
  const char* name;
  const char* command;
  const char* settings;  // besides the batch sizes
};

class TwoRanks : public ::testing::TestWithParam<Case> {};

TEST_P(TwoRanks, TrainAsOneProcessWithTheWholeBatch) {
  SKIP_WITHOUT_GLOO();
  const Case& c = GetParam();
  const fs::path one = fresh_dir(std::string(c.name) + "_one");
  const fs::path two = fresh_dir(std::string(c.name) + "_two");
  const std::string settings = std::string(c.settings) + " learning_rate=0.01";
  // each its own reference cache: the ranks compute their shares of the precomputed reference
  CliRun single = run_dpo(
      recipe(c.command, one,
             settings + " per_device_train_batch_size=4 ref_cache_dir=" + one.string() + "_cache"));
  ASSERT_EQ(single.status, 0) << single.output;
  CliRun ranks = run_dpo(
      recipe(c.command, two,
             settings + " per_device_train_batch_size=2 ref_cache_dir=" + two.string() + "_cache") +
      " --nproc 2");
  ASSERT_EQ(ranks.status, 0) << ranks.output;
  EXPECT_NE(ranks.output.find("data-parallel: 2 ranks"), std::string::npos) << ranks.output;
  expect_same_metrics(one, two, kPaddedPerRank);
  expect_same_adapter(one, two, 0.01);
  EXPECT_TRUE(fs::exists(two / "checkpoint-8" / "rng_state.json"));
}

INSTANTIATE_TEST_SUITE_P(
    DataParallel, TwoRanks,
    ::testing::Values(Case{"dpo", "train", ""},
                      Case{"accumulated", "train", "gradient_accumulation_steps=2"},
                      Case{"precomputed", "train", "precompute_ref_log_probs=true"},
                      Case{"sft", "sft", "gradient_accumulation_steps=2 use_peft=true"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(DataParallel, AnOddEpochEndGivesTheLastRankFewerExamples) {
  SKIP_WITHOUT_GLOO();
  // 16 pairs in global batches of 6: the third micro-batch of each epoch has 4, rank 1 gets 1
  const fs::path one = fresh_dir("odd_one");
  const fs::path two = fresh_dir("odd_two");
  ASSERT_EQ(
      run_dpo(recipe("train", one, "per_device_train_batch_size=6 learning_rate=0.001")).status, 0);
  // threads 0: the ranks share the machine's cores
  CliRun ranks =
      run_dpo(recipe("train", two, "per_device_train_batch_size=3 learning_rate=0.001 threads=0") +
              " --nproc 2");
  ASSERT_EQ(ranks.status, 0) << ranks.output;
  const std::string threads =
      fmt::format(" {} CPU threads", std::max(1, dpo::available_cores() / 2));
  EXPECT_NE(ranks.output.find(threads), std::string::npos) << threads << " not in " << ranks.output;
  expect_same_metrics(one, two, kPaddedPerRank);
  expect_same_adapter(one, two, 0.001);
}

TEST(DataParallel, ResumesWithTheSameWorldSizeAndRefusesAnother) {
  SKIP_WITHOUT_GLOO();
  const fs::path straight = fresh_dir("resume_straight");
  const fs::path resumed = fresh_dir("resume_resumed");
  const std::string batch = "per_device_train_batch_size=2";
  ASSERT_EQ(run_dpo(recipe("train", straight, batch) + " --nproc 2").status, 0);
  ASSERT_EQ(run_dpo(recipe("train", resumed, batch + " max_steps=4") + " --nproc 2").status, 0);
  CliRun other = run_dpo(recipe("train", resumed, batch + " resume_from_checkpoint=latest"));
  EXPECT_EQ(other.status, 1) << other.output;
  EXPECT_NE(other.output.find("written by a run of 2 processes"), std::string::npos)
      << other.output;
  CliRun same =
      run_dpo(recipe("train", resumed, batch + " resume_from_checkpoint=latest") + " --nproc 2");
  ASSERT_EQ(same.status, 0) << same.output;
  expect_same_adapter(straight, resumed, 0.01);
}

TEST(DataParallel, ARankThatDiesStopsTheOtherAndTheRunResumesToTheSameNumbers) {
  SKIP_WITHOUT_GLOO();
  const fs::path straight = fresh_dir("killed_straight");
  const fs::path out = fresh_dir("killed");
  const std::string settings =
      "per_device_train_batch_size=2 max_steps=12 save_steps=2 eval_steps=4 ddp_timeout=20";
  ASSERT_EQ(run_dpo(recipe("train", straight, settings) + " --nproc 2").status, 0);
  // rank 1 in the background, under a torchrun-like environment, SIGKILLed once the first
  // checkpoint is in place (checkpoints appear whole, by a rename); 10 steps are left, so the
  // kill lands mid-run. Rank 0 must not hang: it reports the lost peer and exits 1.
  const std::string port = std::to_string(dpo::dist::free_local_port());
  const std::string env0 = "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port;
  const std::string env1 = "WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port;
  const std::string args = recipe("train", out, settings);
  const std::string first_checkpoint = (out / "checkpoint-2").string();
  const std::string rank1 = "((" + env1 + " " + DPO_BINARY + " " + args +
                            " --no-progress > /dev/null 2>&1 & pid=$!; for i in $(seq 1200); do "
                            "[ -d " +
                            first_checkpoint + " ] && break; sleep 0.05; done; kill -9 $pid) &) ; ";
  CliRun rank0 = run_dpo(args, rank1 + env0);
  ASSERT_EQ(rank0.status, 1) << rank0.output;
  EXPECT_NE(rank0.output.find("rank 0 of 2"), std::string::npos) << rank0.output;
  EXPECT_NE(rank0.output.find("another rank stopped"), std::string::npos) << rank0.output;
  EXPECT_FALSE(fs::exists(out / "adapter_model.safetensors"));  // the run did not finish
  for (const auto& entry : fs::directory_iterator(out))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  // both ranks again, from the last whole checkpoint: the numbers of the run never killed
  CliRun resumed = run_dpo(args + " resume_from_checkpoint=latest --nproc 2");
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  expect_same_metrics(straight, out, {"reference_forwards"});
  expect_same_adapter(straight, out, 0.01);
}

TEST(DataParallel, RanksThatNeverArriveAreAnErrorAfterTheTimeout) {
  SKIP_WITHOUT_GLOO();
  const fs::path out = fresh_dir("alone");
  const std::string port = std::to_string(dpo::dist::free_local_port());
  CliRun alone = run_dpo(recipe("train", out, "ddp_timeout=3"),
                         "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port);
  EXPECT_EQ(alone.status, 1) << alone.output;
  EXPECT_NE(alone.output.find("not all WORLD_SIZE=2 ranks arrived"), std::string::npos)
      << alone.output;
}

TEST(DataParallel, EnvironmentAndLauncherErrorsNameTheVariable) {
  const fs::path out = fresh_dir("env");
  CliRun bad_rank = run_dpo(recipe("train", out, ""), "WORLD_SIZE=2 RANK=5");
  EXPECT_EQ(bad_rank.status, 1);
  EXPECT_NE(bad_rank.output.find("environment variable RANK='5': expected an integer from 0 to 1"),
            std::string::npos)
      << bad_rank.output;
  CliRun nested = run_dpo(recipe("train", out, "") + " --nproc 2", "WORLD_SIZE=2 RANK=0");
  EXPECT_EQ(nested.status, 1);
  EXPECT_NE(nested.output.find("leave out --nproc"), std::string::npos) << nested.output;
  CliRun kto = run_dpo("kto examples/tiny-cpu-kto.yaml output_dir=" + out.string() +
                       " max_steps=2 --nproc 2");
  EXPECT_EQ(kto.status, 1);
  EXPECT_NE(kto.output.find("dpo kto: data-parallel runs"), std::string::npos) << kto.output;
}

TEST(DistEnv, ReadsTorchrunsVariables) {
  std::map<std::string, std::string> vars{{"WORLD_SIZE", "4"},   {"RANK", "3"},
                                          {"LOCAL_RANK", "1"},   {"LOCAL_WORLD_SIZE", "2"},
                                          {"MASTER_ADDR", "h0"}, {"MASTER_PORT", "1234"}};
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  const dpo::dist::DistEnv env = dpo::dist::read_dist_env(lookup);
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.master_addr, "h0");
  EXPECT_EQ(env.master_port, 1234);
  vars.erase("WORLD_SIZE");
  EXPECT_FALSE(dpo::dist::read_dist_env(lookup).data_parallel());
  vars["WORLD_SIZE"] = "2";
  vars["MASTER_PORT"] = "70000";
  vars["RANK"] = "1";
  vars["LOCAL_RANK"] = "0";
  EXPECT_THROW(dpo::dist::read_dist_env(lookup), dpo::UserError);
  vars["MASTER_PORT"] = "1";
  vars.erase("RANK");
  EXPECT_THROW(dpo::dist::read_dist_env(lookup), dpo::UserError);
}

}  // namespace
