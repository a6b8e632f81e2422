// Config loading: TRL defaults, YAML + overrides, every user-facing error message, the resolved
// config round trip, and the configuration reference kept in sync with the key table.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "train/config.h"
#include "train/config_keys.h"
#include "util/error.h"

using namespace dpo;

namespace {

const char* kMinimal = "model_name_or_path: m\ndataset: d.jsonl\n";

TrainConfig parse(const std::string& text, std::vector<std::string> overrides = {},
                  TrainMode mode = TrainMode::kPreference) {
  return parse_train_config(text, "recipe.yaml", overrides, mode);
}

std::string error_of(const std::string& text, std::vector<std::string> overrides = {}) {
  try {
    parse(text, overrides);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

TEST(Config, DefaultsAreTrls) {
  TrainConfig c = parse(kMinimal);
  EXPECT_EQ(c.beta, 0.1);
  EXPECT_EQ(c.loss_type, std::vector<std::string>{"sigmoid"});
  EXPECT_EQ(c.learning_rate, 1e-6);
  EXPECT_EQ(c.lr_scheduler_type, "linear");
  EXPECT_EQ(c.per_device_train_batch_size, 8);
  EXPECT_EQ(c.gradient_accumulation_steps, 1);
  EXPECT_EQ(c.max_length, 1024);
  EXPECT_FALSE(c.max_prompt_length.has_value());  // TRL 1.16 dropped it
  EXPECT_EQ(c.truncation_mode, "keep_start");
  EXPECT_EQ(c.lora_r, 16);
  EXPECT_EQ(c.lora_alpha, 32);
  EXPECT_EQ(c.lora_dropout, 0.05);
  EXPECT_EQ(c.lora_target_modules.size(), 7u);
  EXPECT_TRUE(c.disable_dropout);
  EXPECT_TRUE(c.use_peft);
  EXPECT_EQ(c.adam_epsilon, 1e-8);
  EXPECT_EQ(c.max_grad_norm, 1.0);
  EXPECT_EQ(c.num_train_epochs, 3.0);
  EXPECT_EQ(c.max_steps, -1);
  EXPECT_EQ(c.logging_steps, 10);
  EXPECT_EQ(c.save_steps, 500);
  EXPECT_EQ(c.seed, 42);
  EXPECT_FALSE(c.bf16.has_value());
  TrainConfig sft = parse(kMinimal, {}, TrainMode::kSft);
  EXPECT_EQ(sft.learning_rate, 2e-5);
  EXPECT_TRUE(sft.completion_only_loss);
}

TEST(Config, YamlAndOverrides) {
  TrainConfig c = parse(std::string(kMinimal) +
                            "beta: 0.25\nloss_type: [sigmoid, sft]\nloss_weights: [1, 0.5]\n"
                            "save_steps: 0.25\nbf16: true\neval_max_samples: 960\n",
                        {"beta=0.3", "lora_target_modules=[q_proj,v_proj]", "rpo_alpha=1",
                         "resume_from_checkpoint=latest", "dataset=[a.jsonl, b.jsonl]"});
  EXPECT_EQ(c.beta, 0.3);
  EXPECT_EQ(c.loss_type, (std::vector<std::string>{"sigmoid", "sft"}));
  EXPECT_EQ(c.loss_weights, (std::vector<double>{1.0, 0.5}));
  EXPECT_EQ(c.save_steps, 0.25);
  EXPECT_EQ(c.bf16, true);
  EXPECT_EQ(c.eval_max_samples, 960);
  EXPECT_EQ(c.lora_target_modules, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_EQ(c.rpo_alpha, 1.0);
  EXPECT_EQ(c.resume_from_checkpoint, "latest");
  EXPECT_EQ(c.dataset, (std::vector<std::string>{"a.jsonl", "b.jsonl"}));
  // A scalar where a list is expected is a list of one; null clears an optional.
  TrainConfig d = parse(kMinimal, {"loss_type=ipo", "max_length=null"});
  EXPECT_EQ(d.loss_type, std::vector<std::string>{"ipo"});
  EXPECT_FALSE(d.max_length.has_value());
}

TEST(Config, UnknownKeyNamesTheClosest) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "lerning_rate: 1e-5\n"),
            "recipe.yaml line 3: unknown key 'lerning_rate' (did you mean 'learning_rate'?)");
  EXPECT_EQ(error_of(kMinimal, {"bta=0.1"}),
            "override 'bta=0.1': unknown key 'bta' (did you mean 'beta'?)");
  EXPECT_EQ(error_of(kMinimal, {"beta"}),
            "override 'beta': expected key=value (for example beta=0.2)");
}

TEST(Config, WrongTypesSayWhatIsExpected) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "beta: high\n"),
            "recipe.yaml line 3: beta must be a number, got 'high'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "lora_r: 8.5\n"),
            "recipe.yaml line 3: lora_r must be an integer, got '8.5'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "use_peft: maybe\n"),
            "recipe.yaml line 3: use_peft must be a bool (true or false), got 'maybe'");
  EXPECT_EQ(error_of(std::string(kMinimal) + "loss_type: {a: 1}\n"),
            "recipe.yaml line 3: loss_type must be a list of strings, got '{a: 1}'");
  EXPECT_EQ(error_of(kMinimal, {"lr_scheduler_type=cosin"}),
            "override 'lr_scheduler_type=cosin': lr_scheduler_type must be one of "
            "linear|constant|cosine|constant_with_warmup, got 'cosin' (did you mean 'cosine'?)");
  EXPECT_EQ(error_of(kMinimal, {"loss_type=[sigmoid, ipoo]"})
                .find("loss_type must be one of sigmoid|hinge|ipo|"),
            std::string("override 'loss_type=[sigmoid, ipoo]': ").size());
  EXPECT_EQ(error_of("beta: [1\n").substr(0, 32), "recipe.yaml line 2: invalid YAML");
  EXPECT_EQ(error_of("- a\n- b\n"),
            "recipe.yaml: expected a mapping of config keys (key: value lines)");
}

TEST(Config, RangesSayWhatIsAllowed) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "beta: 0\n"),
            "recipe.yaml line 3: beta must be > 0 (got 0)");
  EXPECT_EQ(error_of(kMinimal, {"learning_rate=-1e-5"}),
            "override 'learning_rate=-1e-5': learning_rate must be > 0 (got -1e-05)");
  EXPECT_EQ(error_of(kMinimal, {"warmup_steps=2.5"}),
            "override 'warmup_steps=2.5': warmup_steps must be a whole number of steps, or a "
            "fraction of the run in [0, 1) (got 2.5)");
  EXPECT_EQ(error_of(kMinimal, {"lora_r=0"}), "override 'lora_r=0': lora_r must be >= 1 (got 0)");
  EXPECT_EQ(error_of(kMinimal, {"per_device_train_batch_size=0"}),
            "override 'per_device_train_batch_size=0': per_device_train_batch_size must be >= 1 "
            "(got 0)");
  EXPECT_EQ(error_of(kMinimal, {"label_smoothing=0.5"}),
            "override 'label_smoothing=0.5': label_smoothing must be in [0, 0.5) (got 0.5)");
  EXPECT_EQ(error_of(kMinimal, {"gradient_accumulation_steps=0"}),
            "override 'gradient_accumulation_steps=0': gradient_accumulation_steps must be >= 1 "
            "(got 0)");
  EXPECT_EQ(error_of(kMinimal, {"save_steps=2.5"}),
            "override 'save_steps=2.5': save_steps must be an integer, or a fraction < 1 of the "
            "run (got 2.5)");
  EXPECT_EQ(error_of(kMinimal, {"loss_type=[sigmoid,sft]", "loss_weights=[1]"}),
            "override 'loss_weights=[1]': loss_weights has 1 values but loss_type has 2; give one "
            "weight per loss type (or none)");
  EXPECT_EQ(error_of("dataset: d.jsonl\n"),
            "recipe.yaml: model_name_or_path is required (a Hugging Face model folder)");
  EXPECT_EQ(error_of("model_name_or_path: m\n"),
            "recipe.yaml: dataset is required (a data file, a directory, or a list of them)");
}

TEST(Config, MissingFileIsAUserError) {
  try {
    load_train_config("/nonexistent/recipe.yaml", {}, TrainMode::kPreference);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/recipe.yaml: config file not found");
  }
}

TEST(Config, ResolvedYamlRoundTrips) {
  TrainConfig c = parse(kMinimal, {"beta=0.25", "loss_type=[sigmoid,sft]", "loss_weights=[1,2]",
                                   "eval_prompts=[\"Hi: there\", \"x\\\"y\"]", "bf16=false"});
  std::string yaml = train_config_to_yaml(c);
  for (const auto& name : config_key_names())
    EXPECT_NE(yaml.find("\n" + name + ": "), std::string::npos) << name;
  TrainConfig again = parse(yaml);
  EXPECT_EQ(train_config_to_yaml(again), yaml);
  EXPECT_EQ(again.eval_prompts, (std::vector<std::string>{"Hi: there", "x\"y"}));
  EXPECT_EQ(again.bf16, false);
}

// Keys of other commands: refused when set to anything but this command's default, so that a
// resolved config.yaml (every key, defaults included) reads back under the command that wrote it.
TEST(Config, KeysOfOtherCommands) {
  for (TrainMode mode : {TrainMode::kPreference, TrainMode::kSft, TrainMode::kCpo, TrainMode::kOrpo,
                         TrainMode::kKto}) {
    TrainConfig c = parse(kMinimal, {}, mode);
    std::string yaml = train_config_to_yaml(c);
    EXPECT_EQ(train_config_to_yaml(parse(yaml, {}, mode)), yaml) << train_mode_command(mode);
  }
  EXPECT_EQ(error_of(std::string(kMinimal) + "cpo_alpha: 0.5\n"),
            "recipe.yaml line 3: cpo_alpha is a CPO key (TRL's CPOConfig): dpo train does not "
            "read it (it is read by dpo cpo); remove it");
  EXPECT_EQ(parse(kMinimal, {"cpo_alpha=0.5"}, TrainMode::kCpo).cpo_alpha, 0.5);
  try {
    parse(kMinimal, {"ld_alpha=0.5"}, TrainMode::kKto);
    ADD_FAILURE() << "ld_alpha accepted by dpo kto";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "override 'ld_alpha=0.5': ld_alpha is a DPO loss key (TRL's DPOConfig): dpo kto "
                 "does not read it (it is read by dpo train); remove it");
  }
  EXPECT_EQ(parse(kMinimal, {}, TrainMode::kKto).loss_type, (std::vector<std::string>{"kto"}));
  EXPECT_EQ(parse(kMinimal, {}, TrainMode::kKto).train_sampling_strategy, "sequential");
}

TEST(Config, ResolveSteps) {
  EXPECT_EQ(resolve_steps(500, 40), 500);
  EXPECT_EQ(resolve_steps(0.25, 40), 10);
  EXPECT_EQ(resolve_steps(0.25, 41), 11);  // ceil, as transformers
  EXPECT_EQ(resolve_steps(0.01, 10), 1);
}

// Regenerate with: DPO_WRITE_CONFIG_DOC=1 test_train --gtest_filter=Config.Reference*
TEST(Config, ReferenceDocMatchesTheKeyTable) {
  if (std::getenv("DPO_WRITE_CONFIG_DOC")) {
    std::ofstream(std::string(DPO_SOURCE_DIR) + "/docs/config.md") << config_reference_markdown();
  }
  std::string doc = slurp(std::string(DPO_SOURCE_DIR) + "/docs/config.md");
  EXPECT_EQ(doc, config_reference_markdown())
      << "docs/config.md is stale: regenerate it from config_reference_markdown()";
}

TEST(Config, ReadmeDocumentsEveryKey) {
  std::string readme = slurp(std::string(DPO_SOURCE_DIR) + "/README.md");
  ASSERT_NE(readme.find("## Configuration reference"), std::string::npos)
      << "README.md must carry the configuration reference (docs/config.md)";
  for (const auto& name : config_key_names())
    EXPECT_NE(readme.find("`" + name + "`"), std::string::npos) << name << " missing in README.md";
}
