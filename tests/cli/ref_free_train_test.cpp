// End-to-end `dpo cpo` (CPO, SimPO) and `dpo orpo` on the tiny fixture model (CPU, float32):
// they learn the shipped pairs without any reference pass, log TRL's CPOTrainer / ORPOTrainer
// metrics, resume exactly, agree with `dpo eval --method`, and refuse the keys of other methods.
// (Step-by-step equality with TRL itself: tests/parity/trl_cpo_orpo.py.)
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/training_cli.h"
#include "io/safetensors.h"
#include "report/metrics_log.h"

namespace fs = std::filesystem;
using dpo::report::MetricsRow;

namespace {

using Exec = dpo::testing::CliRun;
const std::string kSource = DPO_SOURCE_DIR;

Exec run_dpo(const std::string& arguments) {
  return dpo::testing::run_training_cli("dpo_ref_free_test", arguments);
}

Exec run_eval(const std::string& arguments) {
  fs::path out =
      fs::temp_directory_path() / ("dpo_ref_free_eval_" + std::to_string(::getpid()) + ".json");
  std::string command = "cd " + kSource + " && " + DPO_BINARY + " " + arguments + " > " +
                        out.string() + " 2>/dev/null";
  int raw = std::system(command.c_str());
  Exec exec;
  if (WIFEXITED(raw)) exec.status = WEXITSTATUS(raw);
  std::ifstream in(out);
  std::stringstream buffer;
  buffer << in.rdbuf();
  exec.output = buffer.str();
  return exec;
}

fs::path fresh_dir(const std::string& name) {
  return dpo::testing::fresh_test_dir("dpo_ref_free_test", name);
}

std::vector<MetricsRow> metrics(const fs::path& out) {
  return dpo::report::read_metrics(out / "metrics.jsonl");
}

const char* const kQuick = " eval_prompts=[] report_to=[jsonl]";

TEST(RefFreeTrainCli, SimpoLearnsThePairsWithoutAReferencePass) {
  fs::path out = fresh_dir("simpo");
  Exec exec =
      run_dpo("cpo examples/tiny-cpu-simpo.yaml output_dir=" + out.string() + " logging_steps=1");
  ASSERT_EQ(exec.status, 0) << exec.output;
  EXPECT_NE(exec.output.find("dpo cpo: no reference model, no reference pass (CPO loss_type "
                             "simpo, beta 2, cpo_alpha 0, simpo_gamma 0.5)"),
            std::string::npos)
      << exec.output;
  EXPECT_EQ(exec.output.find("reference forward passes"), std::string::npos) << exec.output;
  auto rows = metrics(out);
  ASSERT_FALSE(rows.empty());
  for (const char* key : {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
                          "rewards/margins", "logps/chosen", "logps/rejected", "logits/chosen",
                          "logits/rejected", "nll_loss", "grad_norm", "learning_rate"})
    EXPECT_TRUE(rows[0].has(key)) << key;
  EXPECT_FALSE(rows[0].has("entropy"));             // DPOTrainer's, not CPOTrainer's
  EXPECT_DOUBLE_EQ(*rows[0].get("nll_loss"), 0.0);  // cpo_alpha 0
  // SimPO's rewards: beta x the per-token mean log-prob (a random model: about -ln V each).
  EXPECT_NEAR(*rows[0].get("rewards/chosen"), 2.0 * *rows[0].get("logps/chosen"), 1e-6);
  const MetricsRow* eval = dpo::testing::last_row_with(rows, "eval_rewards/accuracies");
  ASSERT_NE(eval, nullptr);
  EXPECT_GT(*eval->get("eval_rewards/accuracies"), 0.9);
  EXPECT_GT(*eval->get("eval_rewards/margins"), 0.0);
  const MetricsRow* summary = dpo::testing::last_row_with(rows, "train_runtime");
  ASSERT_NE(summary, nullptr);
  EXPECT_EQ(*summary->get("reference_forwards"), 0);
  for (const char* name : {"adapter_model.safetensors", "adapter_config.json", "report.html",
                           "checkpoint-32/optimizer.safetensors"})
    EXPECT_TRUE(fs::exists(out / name)) << name;
  std::ifstream report(out / "report.html");
  std::string html((std::istreambuf_iterator<char>(report)), {});
  EXPECT_NE(html.find("reference-free preference optimization"), std::string::npos);
  EXPECT_EQ(html.find("ln 2 (untrained)"), std::string::npos);
}

TEST(RefFreeTrainCli, OrpoLearnsAndLogsItsOddsRatio) {
  fs::path out = fresh_dir("orpo");
  Exec exec = run_dpo("orpo examples/tiny-cpu-orpo.yaml output_dir=" + out.string() + kQuick);
  ASSERT_EQ(exec.status, 0) << exec.output;
  auto rows = metrics(out);
  ASSERT_FALSE(rows.empty());
  for (const char* key : {"log_odds_ratio", "log_odds_chosen", "nll_loss", "rewards/margins"})
    EXPECT_TRUE(rows[0].has(key)) << key;
  // loss = nll - beta * log_odds_ratio: a single batch per step, logged every 4 steps of 1
  // micro-batch: the loss and the metrics are means over the same 4 batches.
  EXPECT_NEAR(*rows[0].get("loss"), *rows[0].get("nll_loss") - 0.5 * *rows[0].get("log_odds_ratio"),
              1e-5);
  const MetricsRow* eval = dpo::testing::last_row_with(rows, "eval_log_odds_chosen");
  ASSERT_NE(eval, nullptr);
  EXPECT_GT(*eval->get("eval_log_odds_chosen"), 0.0);
  EXPECT_GT(*eval->get("eval_rewards/accuracies"), 0.9);
  EXPECT_LT(*eval->get("eval_nll_loss"), *rows[0].get("nll_loss"));  // it fine-tunes too
}

TEST(RefFreeTrainCli, ResumedOrpoRunMatchesAnUninterruptedOne) {
  const std::string settings = std::string(
                                   " save_steps=3 save_total_limit=null logging_steps=2 "
                                   "eval_steps=null") +
                               kQuick;
  fs::path straight = fresh_dir("orpo_straight"), resumed = fresh_dir("orpo_resumed");
  ASSERT_EQ(run_dpo("orpo examples/tiny-cpu-orpo.yaml max_steps=6 output_dir=" + straight.string() +
                    settings)
                .status,
            0);
  ASSERT_EQ(run_dpo("orpo examples/tiny-cpu-orpo.yaml max_steps=3 output_dir=" + resumed.string() +
                    settings)
                .status,
            0);
  Exec again =
      run_dpo("orpo examples/tiny-cpu-orpo.yaml max_steps=6 output_dir=" + resumed.string() +
              settings + " resume_from_checkpoint=latest");
  ASSERT_EQ(again.status, 0) << again.output;
  auto a = dpo::load_safetensors(straight / "adapter_model.safetensors");
  auto b = dpo::load_safetensors(resumed / "adapter_model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) EXPECT_TRUE(tensor.equal(b.at(name))) << name;
}

// dpo eval --method cpo / orpo is the trainer's evaluation: the same eval_loss and metrics.
TEST(RefFreeTrainCli, EvalMethodAgreesWithTheTrainersEvaluation) {
  for (const std::string method : {"cpo", "orpo"}) {
    fs::path out = fresh_dir("eval_" + method);
    const std::string recipe =
        method == "cpo" ? "examples/tiny-cpu-simpo.yaml" : "examples/tiny-cpu-orpo.yaml";
    ASSERT_EQ(run_dpo(method + " " + recipe + " max_steps=4 eval_steps=4 save_steps=4 " +
                      "per_device_eval_batch_size=5 output_dir=" + out.string() + kQuick)
                  .status,
              0);
    const std::vector<MetricsRow> rows = metrics(out);
    const MetricsRow* trained = dpo::testing::last_row_with(rows, "eval_loss");
    ASSERT_NE(trained, nullptr);
    std::string flags = method == "cpo" ? " --loss-type simpo --beta 2 --simpo-gamma 0.5 "
                                          "--cpo-alpha 0"
                                        : " --beta 0.5";
    Exec eval = run_eval("eval --method " + method + flags + " --model " + kSource +
                         "/tests/fixtures/hf/llama/model --adapter " + out.string() +
                         " --data examples/data/tiny_pairs.jsonl --max-length 64 "
                         "--batch-size 5 --json");
    ASSERT_EQ(eval.status, 0) << eval.output;
    nlohmann::json got = nlohmann::json::parse(eval.output);
    for (const char* key : {"eval_loss", "eval_rewards/margins", "eval_logps/chosen",
                            "eval_logits/chosen", "eval_nll_loss"})
      EXPECT_NEAR(got[key].get<double>(), *trained->get(key),
                  1e-5 * std::fabs(*trained->get(key)) + 1e-7)
          << method << " " << key;
  }
}

TEST(RefFreeTrainCli, KeysOfOtherMethodsAreRefused) {
  fs::path out = fresh_dir("errors");
  struct Case {
    std::string arguments, message;
  };
  const std::vector<Case> cases = {
      {"orpo examples/tiny-cpu-orpo.yaml loss_type=[hinge]",
       "override 'loss_type=[hinge]': loss_type is not an ORPO key (TRL's ORPOConfig has one "
       "loss): dpo orpo does not read it (it is read by dpo train, dpo cpo, dpo kto); remove it"},
      {"cpo examples/tiny-cpu-simpo.yaml precompute_ref_log_probs=true",
       "override 'precompute_ref_log_probs=true': precompute_ref_log_probs is a reference-model "
       "key (CPO and ORPO have no reference model): dpo cpo does not read it (it is read by dpo "
       "train, dpo kto); remove it"},
      {"train examples/tiny-cpu.yaml cpo_alpha=0.5",
       "override 'cpo_alpha=0.5': cpo_alpha is a CPO key (TRL's CPOConfig): dpo train does not "
       "read it (it is read by dpo cpo); remove it"},
      {"cpo examples/tiny-cpu-simpo.yaml loss_type=robust",
       "loss_type: 'robust' is not a CPO loss type (one of: sigmoid, hinge, ipo, simpo); the "
       "DPO family's other losses are dpo train's"},
      {"train examples/tiny-cpu.yaml loss_type=simpo",
       "unknown loss_type 'simpo' (simpo is a CPO loss type: run dpo cpo with loss_type simpo)"},
      {"cpo examples/tiny-cpu-simpo.yaml simpo_gamma=-1",
       "override 'simpo_gamma=-1': simpo_gamma must be >= 0 (got -1)"},
  };
  for (const Case& c : cases) {
    Exec exec = run_dpo(c.arguments + " output_dir=" + out.string());
    EXPECT_EQ(exec.status, 1) << c.arguments << "\n" << exec.output;
    EXPECT_NE(exec.output.find(c.message), std::string::npos) << c.arguments << "\n" << exec.output;
  }
}

}  // namespace
