// End-to-end `dpo kto` on the tiny fixture model (CPU, float32): it learns unpaired rows and
// unpaired preference pairs against its reference, logs TRL's KTOTrainer metrics, reads the
// examples in dataset order, and refuses settings its KL estimate cannot work with.
// (Step-by-step equality with TRL itself: tests/parity/trl_kto.py.)
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
#include "report/metrics_log.h"

namespace fs = std::filesystem;
using dpo::report::MetricsRow;

namespace {

using Exec = dpo::testing::CliRun;
const std::string kSource = DPO_SOURCE_DIR;

Exec run_dpo(const std::string& arguments) {
  return dpo::testing::run_training_cli("dpo_kto_test", arguments);
}

fs::path fresh_dir(const std::string& name) {
  return dpo::testing::fresh_test_dir("dpo_kto_test", name);
}

TEST(KtoTrainCli, LearnsUnpairedRowsAgainstItsReference) {
  fs::path out = fresh_dir("kto");
  Exec exec = run_dpo("kto examples/tiny-cpu-kto.yaml output_dir=" + out.string() +
                      " logging_steps=1 eval_prompts=[] report_to=[jsonl]");
  ASSERT_EQ(exec.status, 0) << exec.output;
  EXPECT_NE(exec.output.find("KTO: 28 train examples (16 desirable, 12 undesirable), 28 eval"),
            std::string::npos)
      << exec.output;
  auto rows = dpo::report::read_metrics(out / "metrics.jsonl");
  ASSERT_FALSE(rows.empty());
  // A fresh adapter: the policy is the reference, so every reward and the KL estimate are 0 and
  // each example's loss is 1 - sigmoid(0) = 0.5.
  EXPECT_NEAR(*rows[0].get("loss"), 0.5, 1e-6);
  EXPECT_NEAR(*rows[0].get("kl"), 0.0, 1e-6);
  for (const char* key : {"kl", "entropy", "num_tokens", "logits/chosen", "logps/chosen",
                          "rewards/chosen", "grad_norm", "learning_rate"})
    EXPECT_TRUE(rows[0].has(key)) << key;
  EXPECT_FALSE(rows[0].has("rewards/accuracies"));  // not a KTOTrainer metric
  const MetricsRow* eval = dpo::testing::last_row_with(rows, "eval_rewards/margins");
  ASSERT_NE(eval, nullptr);
  EXPECT_GT(*eval->get("eval_rewards/margins"), 0.0);
  EXPECT_GT(*eval->get("eval_rewards/chosen"), *eval->get("eval_rewards/rejected"));
  EXPECT_LT(*eval->get("eval_loss"), 0.5);
  const MetricsRow* summary = dpo::testing::last_row_with(rows, "train_runtime");
  ASSERT_NE(summary, nullptr);
  EXPECT_GT(*summary->get("reference_forwards"), 0);
  std::ifstream report(out / "report.html");
  std::string html((std::istreambuf_iterator<char>(report)), {});
  EXPECT_NE(html.find("KTO on unpaired desirable / undesirable examples"), std::string::npos);
  EXPECT_EQ(html.find("chart-accuracies"), std::string::npos);  // no per-pair accuracies
}

TEST(KtoTrainCli, PreferencePairsAreUnpaired) {
  fs::path out = fresh_dir("kto_pairs");
  Exec exec = run_dpo(
      "kto examples/tiny-cpu-kto.yaml dataset=examples/data/tiny_pairs.jsonl "
      "eval_dataset=examples/data/tiny_pairs.jsonl max_steps=4 eval_steps=4 "
      "save_steps=4 eval_prompts=[] report_to=[jsonl] output_dir=" +
      out.string());
  ASSERT_EQ(exec.status, 0) << exec.output;
  EXPECT_NE(exec.output.find("KTO: the preference pairs unpaired into 32 train and 32 eval "
                             "examples"),
            std::string::npos)
      << exec.output;
  EXPECT_TRUE(fs::exists(out / "adapter_model.safetensors"));
}

// dpo eval --method kto is the trainer's evaluation: the same eval_loss and metrics, given the
// run's per_device_train_batch_size as --kl-chunk-size (TRL rotates eval completions with it).
TEST(KtoTrainCli, EvalMethodKtoAgreesWithTheTrainersEvaluation) {
  fs::path out = fresh_dir("kto_eval");
  ASSERT_EQ(run_dpo("kto examples/tiny-cpu-kto.yaml max_steps=4 eval_steps=4 save_steps=4 "
                    "per_device_eval_batch_size=5 eval_prompts=[] report_to=[jsonl] "
                    "output_dir=" +
                    out.string())
                .status,
            0);
  const std::vector<MetricsRow> rows = dpo::report::read_metrics(out / "metrics.jsonl");
  const MetricsRow* trained = dpo::testing::last_row_with(rows, "eval_loss");
  ASSERT_NE(trained, nullptr);
  fs::path json = fs::temp_directory_path() / ("dpo_kto_eval_" + std::to_string(::getpid()));
  const std::string command =
      "cd " + kSource + " && " + DPO_BINARY + " eval --method kto --model " + kSource +
      "/tests/fixtures/hf/llama/model --adapter " + out.string() +
      " --data examples/data/tiny_kto.jsonl --max-length 64 --batch-size 5 --kl-chunk-size 4 "
      "--json > " +
      json.string() + " 2>/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(json);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json got = nlohmann::json::parse(text.str());
  for (const char* key : {"eval_loss", "eval_kl", "eval_rewards/chosen", "eval_rewards/rejected",
                          "eval_logps/chosen", "eval_entropy"})
    EXPECT_NEAR(got[key].get<double>(), *trained->get(key),
                1e-5 * std::fabs(*trained->get(key)) + 1e-7)
        << key;
}

TEST(KtoTrainCli, SettingsTheKlEstimateCannotWorkWithAreRefused) {
  fs::path out = fresh_dir("kto_errors");
  struct Case {
    std::string arguments, message;
  };
  const std::vector<Case> cases = {
      {"kto examples/tiny-cpu-kto.yaml per_device_train_batch_size=1",
       "override 'per_device_train_batch_size=1': per_device_train_batch_size: KTO's KL estimate "
       "pairs each example's prompt with another completion of its batch, so a batch needs at "
       "least 2 examples (got 1); with batches of one use loss_type apo_zero_unpaired, which has "
       "no KL term"},
      {"kto examples/tiny-cpu-kto.yaml train_sampling_strategy=random",
       "override 'train_sampling_strategy=random': train_sampling_strategy: loss_type kto "
       "estimates its KL term from completions paired with their batch neighbours in dataset "
       "order, so it needs sequential sampling (as TRL's KTOTrainer), got random"},
      {"kto examples/tiny-cpu-kto.yaml loss_type=sigmoid",
       "loss_type: dpo kto takes one loss type, kto or apo_zero_unpaired (TRL's "
       "KTOConfig.loss_type), got [sigmoid]"},
      {"kto examples/tiny-cpu-kto.yaml max_prompt_length=8",
       "override 'max_prompt_length=8': max_prompt_length is not a KTO key (TRL's KTOConfig "
       "cuts prompt + completion to max_length, keeping the start): dpo kto does not read it (it "
       "is read by dpo train, dpo cpo, dpo orpo); remove it"},
      {"kto examples/tiny-cpu-kto.yaml prompt_sharing=false",
       "override 'prompt_sharing=false': prompt_sharing is a preference-pair layout key (dpo "
       "kto's examples are unpaired): dpo kto does not read it (it is read by dpo train, dpo cpo, "
       "dpo orpo); remove it"},
      {"train examples/tiny-cpu.yaml desirable_weight=2",
       "override 'desirable_weight=2': desirable_weight is a KTO key (TRL's KTOConfig): dpo "
       "train does not read it (it is read by dpo kto); remove it"},
      {"train examples/tiny-cpu.yaml loss_type=kto",
       "unknown loss_type 'kto' (kto is a KTO loss type, for unpaired data: run dpo kto)"},
  };
  for (const Case& c : cases) {
    Exec exec = run_dpo(c.arguments + " output_dir=" + out.string());
    EXPECT_EQ(exec.status, 1) << c.arguments << "\n" << exec.output;
    EXPECT_NE(exec.output.find(c.message), std::string::npos) << c.arguments << "\n" << exec.output;
  }
  // Every example desirable: it trains, with a warning that it has nothing to contrast.
  fs::path all_good = fresh_dir("kto_all_good");
  fs::create_directories(all_good);
  std::ofstream(all_good / "good.jsonl")
      << "{\"prompt\": \"The capital of Ireland is\", \"completion\": \" Dublin.\", \"label\": "
         "true}\n{\"prompt\": \"The capital of Italy is\", \"completion\": \" Rome.\", "
         "\"label\": true}\n";
  Exec exec = run_dpo(
      "kto examples/tiny-cpu-kto.yaml max_steps=1 eval_steps=null save_steps=1 "
      "eval_prompts=[] dataset=" +
      (all_good / "good.jsonl").string() +
      " eval_dataset=[] output_dir=" + (all_good / "out").string());
  EXPECT_EQ(exec.status, 0) << exec.output;
  EXPECT_NE(exec.output.find("KTO: every training example is desirable (label true)"),
            std::string::npos)
      << exec.output;
}

}  // namespace
