// The commands on the architectures beyond the committed fixtures: a qwen3 model with a sliding
// window, a smollm3 model (layers without RoPE, a window in one of them) and gemma2 / gemma3_text
// models (soft-capping, sandwich norms, local RoPE) and a phi3 model (fused projections; the
// default LoRA targets become qkv_proj and gate_up_proj), drawn at test time by
// tests/model/architecture_reference.py, go through dpo train, sft, eval, generate and merge; the
// merged folder generates what the adapter on its base generates. Their numbers against
// transformers: tests/lora/architecture_reference_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/training_cli.h"
#include "python_reference.h"

namespace fs = std::filesystem;

namespace {

using Exec = dpo::testing::CliRun;

Exec run_dpo(const std::string& arguments) {
  const bool training = arguments.rfind("train ", 0) == 0 || arguments.rfind("sft ", 0) == 0;
  return dpo::testing::run_training_cli("dpo_architectures_cli", arguments, "", training);
}

fs::path draw_model(const std::string& name) {
  const fs::path out = dpo::testing::fresh_test_dir("dpo_architectures_cli", "models");
  const std::string command = std::string("'") + DPO_PYTHON + "' '" + DPO_SOURCE_DIR +
                              "/tests/model/architecture_reference.py' '" + out.string() + "' " +
                              name + " > /dev/null 2>&1";
  if (std::system(command.c_str()) != 0) return fs::path();
  return out / name / "model";
}

// output_ids of `dpo generate --json` for the prompt.
std::string generated_ids(const std::string& model_args) {
  Exec exec = run_dpo("generate " + model_args +
                      " --prompt 'The capital of Ireland is' --max-new-tokens " + "12 --json");
  EXPECT_EQ(exec.status, 0) << exec.output;
  size_t line = exec.output.find("{\"prompt_ids\"");
  if (line == std::string::npos) return "no JSON line in: " + exec.output;
  auto row = nlohmann::json::parse(exec.output.substr(line, exec.output.find('\n', line) - line));
  return row["output_ids"].dump();
}

class ArchitectureCli : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchitectureCli, TrainSftEvalGenerateAndMerge) {
  DPO_REQUIRE_PYTHON_MODULES("transformers", "peft", "torch");
  const fs::path model = draw_model(GetParam());
  ASSERT_FALSE(model.empty()) << "architecture_reference.py " << GetParam() << " failed";
  const fs::path runs = dpo::testing::fresh_test_dir("dpo_architectures_cli", GetParam());
  const std::string base = "model_name_or_path=" + model.string() + " max_steps=4 eval_steps=2";

  Exec sft =
      run_dpo("sft examples/tiny-cpu-sft.yaml " + base + " output_dir=" + (runs / "sft").string());
  ASSERT_EQ(sft.status, 0) << sft.output;
  Exec train =
      run_dpo("train examples/tiny-cpu.yaml " + base + " output_dir=" + (runs / "dpo").string());
  ASSERT_EQ(train.status, 0) << train.output;
  ASSERT_TRUE(fs::exists(runs / "dpo" / "adapter_model.safetensors"));

  const std::string adapter = " --adapter " + (runs / "dpo").string();
  Exec eval = run_dpo("eval --model " + model.string() + adapter +
                      " --data examples/data/tiny_pairs.jsonl");
  ASSERT_EQ(eval.status, 0) << eval.output;
  EXPECT_NE(eval.output.find("rewards/accuracies"), std::string::npos) << eval.output;

  Exec merge = run_dpo("merge --model " + model.string() + adapter + " --output " +
                       (runs / "merged").string());
  ASSERT_EQ(merge.status, 0) << merge.output;
  EXPECT_EQ(generated_ids("--model " + (runs / "merged").string()),
            generated_ids("--model " + model.string() + adapter));
}

INSTANTIATE_TEST_SUITE_P(Drawn, ArchitectureCli,
                         ::testing::Values("qwen3_sliding", "smollm3_sliding", "gemma2",
                                           "gemma3_text", "phi3"));

}  // namespace
