// End-to-end `dpo train` / `dpo sft` on the tiny fixture model (CPU, float32): learning, the run
// folder, exact resume after SIGKILL, gradient accumulation, config errors, save_total_limit,
// the reference cache, TensorBoard read back, and SFT followed by DPO on its output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/killed_run.h"
#include "cli/training_cli.h"
#include "io/safetensors.h"
#include "report/metrics_log.h"
#include "report/tensorboard_reader.h"
#include "util/strings.h"

namespace fs = std::filesystem;
using dpo::report::MetricsRow;

namespace {

using Exec = dpo::testing::CliRun;
const std::string kSource = DPO_SOURCE_DIR;

Exec run_dpo(const std::string& arguments, const std::string& env = "") {
  return dpo::testing::run_training_cli("dpo_train_test", arguments, env);
}

fs::path fresh_dir(const std::string& name) {
  return dpo::testing::fresh_test_dir("dpo_train_test", name);
}

// The tiny recipe with the test's output folder and overrides.
std::string tiny(const fs::path& out, const std::string& overrides) {
  return "train examples/tiny-cpu.yaml output_dir=" + out.string() + " " + overrides;
}

std::vector<MetricsRow> metrics(const fs::path& out) {
  return dpo::report::read_metrics(out / "metrics.jsonl");
}

// Rows without timing values and the process-local reference counter.
std::vector<std::map<std::string, double>> comparable(const std::vector<MetricsRow>& rows) {
  std::vector<std::map<std::string, double>> out;
  for (const auto& row : rows) {
    std::map<std::string, double> values{{"step", static_cast<double>(row.step)}};
    for (const auto& [name, value] : row.values)
      if (!dpo::report::is_timing_key(name) && name != "reference_forwards") values[name] = value;
    out.push_back(values);
  }
  return out;
}

}  // namespace

TEST(TrainCli, DpoLearnsThePairsAndLeavesTheRunFolder) {
  fs::path out = fresh_dir("learn");
  Exec exec = run_dpo(tiny(out, "logging_steps=1 report_to=[jsonl,tensorboard]"));
  ASSERT_EQ(exec.status, 0) << exec.output;
  auto rows = metrics(out);
  ASSERT_FALSE(rows.empty());
  // A fresh adapter (B = 0): policy = reference, so the first loss is ln 2.
  EXPECT_EQ(rows[0].step, 1);
  EXPECT_NEAR(*rows[0].get("loss"), std::log(2.0), 1e-6);
  EXPECT_NEAR(*rows[0].get("rewards/margins"), 0.0, 1e-6);
  const MetricsRow* eval = dpo::testing::last_row_with(rows, "eval_rewards/accuracies");
  ASSERT_NE(eval, nullptr);
  EXPECT_EQ(eval->step, 32);
  EXPECT_GT(*eval->get("eval_rewards/accuracies"), 0.9);
  EXPECT_GT(*eval->get("eval_rewards/margins"), 0.0);
  EXPECT_LT(*eval->get("eval_loss"), std::log(2.0));
  const MetricsRow* summary = dpo::testing::last_row_with(rows, "train_runtime");
  ASSERT_NE(summary, nullptr);
  EXPECT_GT(*summary->get("reference_forwards"), 0);

  for (const char* name :
       {"config.yaml", "metrics.jsonl", "trainer_state.json", "adapter_model.safetensors",
        "adapter_config.json", "tokenizer.json", "generations.jsonl", "report.html"})
    EXPECT_TRUE(fs::exists(out / name)) << name;
  // save_steps 0.25 of 32 -> every 8 steps; save_total_limit 2 keeps the last two.
  EXPECT_FALSE(fs::exists(out / "checkpoint-16"));
  for (const char* checkpoint : {"checkpoint-24", "checkpoint-32"})
    for (const char* name :
         {"adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors",
          "scheduler.json", "rng_state.json", "trainer_state.json", "tokenizer.json"})
      EXPECT_TRUE(fs::exists(out / checkpoint / name)) << checkpoint << "/" << name;
  // The resolved config lists every default.
  std::ifstream config(out / "config.yaml");
  std::string text((std::istreambuf_iterator<char>(config)), {});
  EXPECT_NE(text.find("adam_epsilon: 1e-08"), std::string::npos);
  EXPECT_NE(text.find("learning_rate: 0.01"), std::string::npos);

  // TensorBoard: the event file holds train/loss of step 1 equal to metrics.jsonl's.
  auto files = dpo::report::list_event_files(out);
  ASSERT_EQ(files.size(), 1u);
  bool found = false;
  for (const auto& event : dpo::report::read_event_file(files[0]))
    for (const auto& scalar : event.scalars)
      if (scalar.tag == "train/loss" && event.step == 1) {
        EXPECT_FLOAT_EQ(scalar.value, static_cast<float>(*rows[0].get("loss")));
        found = true;
      }
  EXPECT_TRUE(found);
}

TEST(TrainCli, ResumeAfterSigkillMatchesAnUninterruptedRun) {
  const std::string settings =
      "max_steps=12 save_steps=4 save_total_limit=null logging_steps=2 "
      "eval_steps=6 eval_prompts=[]";
  fs::path straight = fresh_dir("straight");
  ASSERT_EQ(run_dpo(tiny(straight, settings)).status, 0);

  fs::path killed = fresh_dir("killed");
  std::vector<std::string> killed_run = {"examples/tiny-cpu.yaml", "output_dir=" + killed.string()};
  for (const std::string& setting : dpo::split(settings, ' ')) killed_run.push_back(setting);
  EXPECT_TRUE(dpo::testing::killed_by_sigkill(dpo::testing::start_training_killed_after(
      killed_run, 10, killed.parent_path() / "killed.log")));
  // Killed after step 10: checkpoint-8 is the latest.
  ASSERT_TRUE(fs::exists(killed / "checkpoint-8"));
  ASSERT_FALSE(fs::exists(killed / "checkpoint-12"));
  Exec resumed = run_dpo(tiny(killed, settings + " resume_from_checkpoint=latest"));
  ASSERT_EQ(resumed.status, 0) << resumed.output;

  EXPECT_EQ(comparable(metrics(killed)), comparable(metrics(straight)));
  auto a = dpo::load_safetensors(straight / "adapter_model.safetensors");
  auto b = dpo::load_safetensors(killed / "adapter_model.safetensors");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) EXPECT_TRUE(tensor.equal(b.at(name))) << name;
}

TEST(TrainCli, GradientAccumulationGivesTheSameUpdate) {
  const std::string settings =
      "max_steps=1 logging_steps=1 eval_steps=null save_steps=1 "
      "eval_prompts=[] learning_rate=0.01";
  fs::path whole = fresh_dir("whole");
  fs::path accumulated = fresh_dir("accumulated");
  ASSERT_EQ(run_dpo(tiny(whole, settings + " per_device_train_batch_size=8")).status, 0);
  ASSERT_EQ(run_dpo(tiny(accumulated, settings + " per_device_train_batch_size=2 "
                                                 "gradient_accumulation_steps=4"))
                .status,
            0);
  auto a = metrics(whole), b = metrics(accumulated);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_NEAR(*b[0].get("loss"), *a[0].get("loss"), 1e-5 * std::fabs(*a[0].get("loss")));
  EXPECT_NEAR(*b[0].get("grad_norm"), *a[0].get("grad_norm"), 1e-5 * *a[0].get("grad_norm"));
  auto wa = dpo::load_safetensors(whole / "adapter_model.safetensors");
  auto wb = dpo::load_safetensors(accumulated / "adapter_model.safetensors");
  // The gradients themselves are compared in tests/train/grad_accumulation_test.cpp; here the
  // trainer's plumbing: the same pairs in the step (loss, grad_norm above) and the same AdamW
  // step. AdamW's first update is lr * g / (|g| + eps), which turns float32 noise on gradient
  // entries near 0 into visible differences, so the weights agree to 1% of lr, not to 1e-7.
  const double lr = 0.01;
  for (const auto& [name, tensor] : wa) {
    EXPECT_TRUE(tensor.allclose(wb.at(name), 1e-5, 1e-2 * lr)) << name;
  }
}

TEST(TrainCli, ConfigErrorsExitWithOneAndAMessage) {
  fs::path dir = fresh_dir("errors");
  fs::create_directories(dir);
  std::ofstream(dir / "bad.yaml") << "model_name_or_path: m\ndataset: d.jsonl\nbta: 0.1\n";
  Exec exec = run_dpo("train " + (dir / "bad.yaml").string());
  EXPECT_EQ(exec.status, 1);
  EXPECT_NE(exec.output.find("bad.yaml line 3: unknown key 'bta' (did you mean 'beta'?)"),
            std::string::npos)
      << exec.output;
  exec = run_dpo(tiny(dir / "out", "beta=0"));
  EXPECT_EQ(exec.status, 1);
  EXPECT_NE(exec.output.find("override 'beta=0': beta must be > 0 (got 0)"), std::string::npos)
      << exec.output;
  exec = run_dpo(tiny(dir / "out", "resume_from_checkpoint=latest"));
  EXPECT_EQ(exec.status, 1);
  EXPECT_NE(exec.output.find("resume_from_checkpoint: latest: no checkpoint-N folder"),
            std::string::npos)
      << exec.output;
}

TEST(TrainCli, SecondRunReadsReferenceLogProbsFromTheCache) {
  fs::path cache = fresh_dir("cache");
  const std::string settings =
      "max_steps=4 logging_steps=2 save_steps=4 eval_steps=null "
      "eval_prompts=[] precompute_ref_log_probs=true ref_cache_dir=" +
      cache.string();
  fs::path first = fresh_dir("cache_first"), second = fresh_dir("cache_second");
  ASSERT_EQ(run_dpo(tiny(first, settings)).status, 0);
  Exec again = run_dpo(tiny(second, settings));
  ASSERT_EQ(again.status, 0);
  auto a = metrics(first), b = metrics(second);
  EXPECT_GT(*dpo::testing::last_row_with(a, "reference_forwards")->get("reference_forwards"), 0);
  EXPECT_EQ(*dpo::testing::last_row_with(b, "reference_forwards")->get("reference_forwards"), 0);
  EXPECT_NE(again.output.find("loaded from the cache"), std::string::npos) << again.output;
  EXPECT_EQ(comparable(a), comparable(b));
  // Without the cache the same run's numbers agree with it (the reference is the same model).
  fs::path live = fresh_dir("cache_live");
  ASSERT_EQ(run_dpo(tiny(live,
                         "max_steps=4 logging_steps=2 save_steps=4 eval_steps=null "
                         "eval_prompts=[]"))
                .status,
            0);
  auto c = metrics(live);
  ASSERT_EQ(c.size(), a.size());
  for (size_t i = 0; i + 1 < a.size(); ++i) EXPECT_NEAR(*c[i].get("loss"), *a[i].get("loss"), 1e-5);
}

TEST(TrainCli, SftThenDpoOnItsOutput) {
  fs::path sft = fresh_dir("sft");
  Exec exec = run_dpo("sft examples/tiny-cpu-sft.yaml output_dir=" + sft.string() +
                      " num_train_epochs=1 save_steps=2");
  ASSERT_EQ(exec.status, 0) << exec.output;
  for (const char* name : {"model.safetensors", "config.json", "tokenizer.json", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(sft / name)) << name;
  auto rows = metrics(sft);
  ASSERT_FALSE(rows.empty());
  EXPECT_TRUE(rows[0].has("mean_token_accuracy"));
  EXPECT_TRUE(rows[0].has("num_tokens"));
  fs::path dpo = fresh_dir("dpo_after_sft");
  exec = run_dpo(tiny(dpo,
                      "max_steps=4 eval_steps=null save_steps=4 eval_prompts=[] "
                      "model_name_or_path=" +
                          sft.string()));
  ASSERT_EQ(exec.status, 0) << exec.output;
  auto dpo_rows = metrics(dpo);
  ASSERT_FALSE(dpo_rows.empty());
  EXPECT_TRUE(fs::exists(dpo / "adapter_model.safetensors"));
}

// adapter_name_or_path: training goes on from a trained adapter (B != 0), and the reference is
// base + that adapter, so the first step's policy equals its reference: loss ln 2 and zero
// rewards exactly (against the bare base they would not be). The same with the reference
// log-probs precomputed, and in full fine-tuning (the adapter merged into the weights first).
TEST(TrainCli, TrainsOnFromAnAdapterThatIsAlsoTheReference) {
  const std::string adapter = kSource + "/tests/fixtures/hf/llama/adapter";
  const std::string common =
      "max_steps=2 logging_steps=1 eval_steps=null save_steps=2 "
      "eval_prompts=[] adapter_name_or_path=" +
      adapter;
  fs::path cache = fresh_dir("adapter_cache");
  for (const std::string& extra :
       {std::string(""), "precompute_ref_log_probs=true ref_cache_dir=" + cache.string(),
        std::string("use_peft=false")}) {
    SCOPED_TRACE(extra);
    fs::path out = fresh_dir("from_adapter");
    Exec exec = run_dpo(tiny(out, common + " " + extra));
    ASSERT_EQ(exec.status, 0) << exec.output;
    auto rows = metrics(out);
    ASSERT_FALSE(rows.empty());
    EXPECT_EQ(rows[0].step, 1);
    EXPECT_NEAR(*rows[0].get("loss"), std::log(2.0), 1e-6);
    EXPECT_NEAR(*rows[0].get("rewards/chosen"), 0.0, 1e-6);
    EXPECT_NEAR(*rows[0].get("rewards/margins"), 0.0, 1e-6);
    if (extra.find("use_peft=false") == std::string::npos) {
      EXPECT_NE(exec.output.find("training on from the adapter"), std::string::npos) << exec.output;
      std::ifstream config(out / "adapter_config.json");
      std::string text((std::istreambuf_iterator<char>(config)), {});
      EXPECT_NE(text.find("\"r\": 4"), std::string::npos) << text;  // the adapter's rank
    } else {
      EXPECT_TRUE(fs::exists(out / "model.safetensors"));
    }
  }
  // Against the bare base (dpo eval's reference), the same adapter's loss is not ln 2: the
  // zero rewards above come from the reference being base + adapter.
  const std::string eval = "cd " + kSource + " && " + DPO_BINARY +
                           " eval --model tests/fixtures/hf/llama/model --adapter " + adapter +
                           " --data examples/data/tiny_pairs.jsonl --max-length 64 --json";
  FILE* pipe = ::popen(eval.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string json_text;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) json_text.append(buffer, n);
  ASSERT_EQ(::pclose(pipe), 0) << json_text;
  const nlohmann::json against_base = nlohmann::json::parse(json_text);
  EXPECT_GT(std::abs(against_base["eval_loss"].get<double>() - std::log(2.0)), 1e-4);
}

TEST(TrainCli, AdapterNameOrPathThatIsNoFolderIsAnError) {
  fs::path out = fresh_dir("missing_adapter");
  Exec exec = run_dpo(tiny(out, "max_steps=1 adapter_name_or_path=/nonexistent/adapter"));
  EXPECT_EQ(exec.status, 1) << exec.output;
  EXPECT_NE(exec.output.find("adapter_name_or_path: /nonexistent/adapter is not a folder"),
            std::string::npos)
      << exec.output;
}

// padding_free (the default) packs each micro-batch (on a CPU: into one row, variable-length
// attention), and prompt_sharing (the default, DPO-family runs) computes each pair's prompt once:
// the numbers of the padded layout over 10 steps (float32 summation order aside), no padding.
TEST(TrainCli, PaddingFreeAndPromptSharingGiveThePaddedNumbersWithoutPadding) {
  struct Layout {
    std::string settings, summary;
  };
  const std::string shared_note = "packed with prompt sharing: each prompt computed once, ";
  const std::vector<std::pair<std::string, std::vector<Layout>>> commands = {
      {"train examples/tiny-cpu.yaml",
       {{"", shared_note}, {" prompt_sharing=false", "packed: padding_free"}}},
      {"sft examples/tiny-cpu-sft.yaml", {{"", "packed: padding_free"}}}};
  for (const auto& [command, layouts] : commands) {
    SCOPED_TRACE(command);
    const std::string settings =
        " max_steps=10 logging_steps=1 eval_steps=5 save_steps=10 eval_prompts=[] "
        "per_device_train_batch_size=8 per_device_eval_batch_size=16";
    fs::path padded = fresh_dir("padded");
    Exec a = run_dpo(command + " output_dir=" + padded.string() + settings + " padding_free=false");
    ASSERT_EQ(a.status, 0) << a.output;
    auto padding_of = [](const std::string& output) {
      const size_t at = output.find("% of the computed token positions padding");
      EXPECT_NE(at, std::string::npos) << output;
      if (at == std::string::npos) return 100.0;
      const size_t start = output.rfind(", ", at) + 2;
      return std::stod(output.substr(start, at - start));
    };
    EXPECT_GT(padding_of(a.output), 20.0);
    EXPECT_NE(a.output.find("padding_free: true (the default) reduces it"), std::string::npos)
        << a.output;
    const auto rows_a = comparable(metrics(padded));
    for (const Layout& layout : layouts) {
      SCOPED_TRACE(layout.summary);
      fs::path packed = fresh_dir("packed");
      Exec b = run_dpo(command + " output_dir=" + packed.string() + settings + layout.settings);
      ASSERT_EQ(b.status, 0) << b.output;
      const auto rows_b = comparable(metrics(packed));
      ASSERT_EQ(rows_a.size(), rows_b.size());
      for (size_t i = 0; i < rows_a.size(); ++i) {
        ASSERT_EQ(rows_a[i].size(), rows_b[i].size()) << "row " << i;
        for (const auto& [name, value] : rows_a[i]) {
          // step 1 and its evaluation exactly as padded; after one AdamW update, float32 noise on
          // near-zero gradient entries (normalized by Adam) moves the numbers a little
          const double rtol = rows_a[i].at("step") <= 1 ? 1e-5 : 1e-3;
          EXPECT_NEAR(rows_b[i].at(name), value, rtol * std::max(1e-3, std::fabs(value)))
              << name << " at step " << rows_a[i].at("step");
        }
      }
      EXPECT_EQ(padding_of(b.output), 0.0);
      EXPECT_NE(b.output.find(layout.summary), std::string::npos) << b.output;
      if (layout.summary == shared_note) {  // the tiny dataset's prompts: a sizeable share
        const size_t at = b.output.find(shared_note) + shared_note.size();
        const double saved = std::stod(b.output.substr(at));
        EXPECT_GT(saved, 5.0) << b.output;
        EXPECT_LT(saved, 50.0) << b.output;
        EXPECT_NE(b.output.find("% of the token positions saved"), std::string::npos);
      }
    }
  }
}
