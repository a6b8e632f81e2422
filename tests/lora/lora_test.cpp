// LoRA: the adapter math, targeting, PEFT init, the disable switch, PEFT files and merging.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "lora/lora_model.h"
#include "lora/merge.h"
#include "util/error.h"
#include "util/fs.h"

namespace dpo {
namespace {

const fs::path kFixtures = DPO_FIXTURES;
const fs::path kLlama = kFixtures / "hf" / "llama";

fs::path temp_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_lora_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no UserError)";
}

LoraConfig small_config() {
  LoraConfig config;
  config.r = 4;
  config.lora_alpha = 8;
  config.lora_dropout = 0.0;
  return config;
}

ModelInput tokens(std::vector<int64_t> ids) {
  ModelInput input;
  input.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);
  return input;
}

TEST(LoraLinear, DeltaIsScaledBAxInFloat32AndCastBack) {
  auto switches = std::make_shared<LoraSwitches>();
  at::Tensor a = at::randn({2, 5}), b = at::randn({3, 2});
  LoraLinear lora(a, b, 1.5, 0.0, switches);
  at::Tensor x = at::randn({4, 5});
  at::Tensor expected = at::matmul(at::matmul(x, a.t()), b.t()) * 1.5;
  EXPECT_TRUE(at::allclose(lora.delta(x), expected, 1e-6, 1e-6));
  at::Tensor x16 = x.to(at::kBFloat16);
  at::Tensor d16 = lora.delta(x16);
  EXPECT_EQ(d16.scalar_type(), at::kBFloat16);
  at::Tensor expected16 =
      (at::matmul(at::matmul(x16.to(at::kFloat), a.t()), b.t()) * 1.5).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(d16, expected16));
  EXPECT_TRUE(at::allclose(lora.merged_delta(), at::matmul(b, a) * 1.5, 1e-6, 1e-6));
}

TEST(LoraLinear, DropoutOnlyWhileActive) {
  auto switches = std::make_shared<LoraSwitches>();
  LoraLinear lora(at::ones({1, 64}), at::ones({1, 1}), 1.0, 0.5, switches);
  at::Tensor x = at::ones({8, 64});
  at::Tensor active =
      lora.delta(x);  // kept inputs scaled by 2: values are even numbers, not all 64
  EXPECT_FALSE(at::allclose(active, at::full_like(active, 64.0)));
  switches->dropout_active = false;
  EXPECT_TRUE(at::allclose(lora.delta(x), at::full({8, 1}, 64.0)));
}

TEST(LoraConfig, TargetsAsPeftMatchesThem) {
  LoraConfig config;
  EXPECT_TRUE(config.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(config.targets("model.layers.11.mlp.down_proj"));
  EXPECT_FALSE(config.targets("lm_head"));
  EXPECT_FALSE(config.targets("model.layers.0.self_attn.q_proj_extra"));
  config.target_modules = {"all-linear"};
  EXPECT_TRUE(config.targets("model.layers.0.mlp.up_proj"));
  EXPECT_FALSE(config.targets("lm_head"));
  config.target_modules = {"q_proj", "v_proj"};
  config.layers_to_transform = {1};
  EXPECT_FALSE(config.targets("model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(config.targets("model.layers.1.self_attn.v_proj"));
  config = LoraConfig();
  config.target_regex = R"(.*layers\.[01]\.self_attn\.(q|k)_proj)";
  EXPECT_TRUE(config.targets("model.layers.1.self_attn.k_proj"));
  EXPECT_FALSE(config.targets("model.layers.1.self_attn.v_proj"));
  config.exclude_modules = {"k_proj"};
  EXPECT_FALSE(config.targets("model.layers.1.self_attn.k_proj"));
  config.target_regex = "(";
  EXPECT_NE(error_of([&] { config.validate(); }).find("invalid regular expression"),
            std::string::npos);
}

// phi3: the default list names its fused layers; partial lists and regexes are left alone.
TEST(LoraConfig, FusedTargetNamesForPhi3) {
  using Names = std::vector<std::string>;
  LoraConfig config;  // the default seven
  EXPECT_EQ(with_fused_target_names(config).target_modules,
            (Names{"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}));
  EXPECT_TRUE(with_fused_target_names(config).targets("model.layers.0.self_attn.qkv_proj"));
  config.target_modules = {"v_proj", "up_proj", "q_proj", "k_proj", "gate_proj"};
  EXPECT_EQ(with_fused_target_names(config).target_modules, (Names{"qkv_proj", "gate_up_proj"}));
  config.target_modules = {"q_proj", "v_proj", "gate_proj"};  // not all parts: unchanged
  EXPECT_EQ(with_fused_target_names(config).target_modules, config.target_modules);
  config.target_modules = {"all-linear"};
  EXPECT_EQ(with_fused_target_names(config).target_modules, config.target_modules);
  config.target_regex = ".*q_proj";
  config.target_modules = {"q_proj", "k_proj", "v_proj"};
  EXPECT_EQ(with_fused_target_names(config).target_modules, config.target_modules);
}

TEST(LoraConfig, RankAlphaPatternsAndRsloraScaling) {
  LoraConfig config = small_config();
  config.rank_pattern = {{"q_proj", 8}, {"layers.1.mlp.up_proj", 2}};
  config.alpha_pattern = {{"q_proj", 32}};
  EXPECT_EQ(config.rank_for("model.layers.0.self_attn.q_proj"), 8);
  EXPECT_EQ(config.rank_for("model.layers.1.mlp.up_proj"), 2);
  EXPECT_EQ(config.rank_for("model.layers.0.mlp.up_proj"), 4);
  EXPECT_DOUBLE_EQ(config.scaling_for("model.layers.0.self_attn.q_proj"), 32.0 / 8);
  EXPECT_DOUBLE_EQ(config.scaling_for("model.layers.0.self_attn.v_proj"), 8.0 / 4);
  config.use_rslora = true;
  EXPECT_DOUBLE_EQ(config.scaling_for("model.layers.0.self_attn.v_proj"), 8.0 / 2);
}

TEST(LoraConfig, JsonHasPeftsKeysAndRejectsUnsupportedAdapters) {
  nlohmann::json fixture =
      nlohmann::json::parse(read_file(kLlama / "adapter" / "adapter_config.json"));
  nlohmann::json ours = nlohmann::json::parse(lora_config_to_json(small_config()));
  std::set<std::string> fixture_keys, our_keys;
  for (const auto& [key, value] : fixture.items()) fixture_keys.insert(key);
  for (const auto& [key, value] : ours.items()) our_keys.insert(key);
  EXPECT_EQ(our_keys, fixture_keys);
  EXPECT_EQ(ours["task_type"], "CAUSAL_LM");
  EXPECT_EQ(ours["peft_type"], "LORA");
  EXPECT_EQ(ours["lora_alpha"], 8);
  EXPECT_EQ(ours["init_lora_weights"], true);

  LoraConfig loaded = lora_config_from_json(fixture.dump(), "adapter_config.json");
  EXPECT_EQ(loaded.r, 4);
  EXPECT_EQ(loaded.lora_alpha, 8);
  EXPECT_EQ(loaded.init_lora_weights, "false");
  EXPECT_EQ(nlohmann::json::parse(lora_config_to_json(loaded)), fixture);  // unchanged round trip

  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json doc = fixture;
    doc[key] = value;
    return error_of([&] { lora_config_from_json(doc.dump(), "a/adapter_config.json"); });
  };
  EXPECT_NE(with("use_dora", true).find("DoRA is not supported"), std::string::npos);
  EXPECT_NE(with("peft_type", "IA3").find("only LoRA adapters"), std::string::npos);
  EXPECT_NE(with("r", "four").find("key 'r': expected an integer"), std::string::npos);
  EXPECT_NE(with("modules_to_save", {"lm_head"}).find("modules_to_save"), std::string::npos);
  EXPECT_NE(with("bias", "all").find("'bias'"), std::string::npos);
  EXPECT_NE(error_of([] { lora_config_from_json("{", "x.json"); }).find("x.json: not valid JSON"),
            std::string::npos);
}

class LoraOnModel : public ::testing::Test {
 protected:
  LlamaModel model = LlamaModel::load(kLlama / "model", at::kFloat, at::kCPU);
};

TEST_F(LoraOnModel, CreateInjectsPeftInitAndOnlyLoraRequiresGrad) {
  LoraModel lora = LoraModel::create(model, small_config(), 7);
  ASSERT_EQ(lora.modules().size(), 14u);  // 7 targets x 2 layers
  EXPECT_EQ(lora.named_parameters().size(), 28u);
  EXPECT_EQ(lora.named_parameters()[0].first,
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  for (const auto& module : lora.modules()) {
    const at::Tensor& a = module.adapter->lora_A();
    double bound = 1.0 / std::sqrt(static_cast<double>(a.size(1)));
    EXPECT_LE(a.abs().max().item<double>(), bound);
    EXPECT_GT(a.abs().max().item<double>(), 0.5 * bound);
    EXPECT_EQ(module.adapter->lora_B().abs().max().item<double>(), 0.0);
    EXPECT_TRUE(a.requires_grad());
    EXPECT_EQ(a.scalar_type(), at::kFloat);
    EXPECT_DOUBLE_EQ(module.adapter->scaling(), 2.0);
  }
  for (const auto& [name, tensor] : model.named_parameters())
    EXPECT_FALSE(tensor.requires_grad()) << name;
  // Same seed, same weights.
  LlamaModel other = LlamaModel::load(kLlama / "model", at::kFloat, at::kCPU);
  LoraModel again = LoraModel::create(other, small_config(), 7);
  EXPECT_TRUE(at::equal(again.modules()[3].adapter->lora_A(), lora.modules()[3].adapter->lora_A()));
  EXPECT_NE(
      error_of([&] { LoraModel::create(model, small_config(), 1); }).find("already has an adapter"),
      std::string::npos);
}

TEST_F(LoraOnModel, AllLinearRecordsTheMatchedNamesAndEmptyTargetsFail) {
  LoraConfig config = small_config();
  config.target_modules = {"all-linear"};
  LoraModel lora = LoraModel::create(model, config, 1);
  EXPECT_EQ(lora.modules().size(), 14u);
  EXPECT_EQ(lora.config().target_modules.size(), 7u);
  lora.unload();
  config.target_modules = {"qkv_proj"};
  EXPECT_NE(error_of([&] { LoraModel::create(model, config, 1); }).find("match no linear layer"),
            std::string::npos);
}

TEST_F(LoraOnModel, DisabledScopeGivesTheBaseModel) {
  ModelInput input = tokens({1, 415, 5565, 302, 11170});
  at::NoGradGuard no_grad;
  at::Tensor base = model.forward_hidden(input);
  LoraConfig config = small_config();
  config.init_lora_weights = "false";  // non-zero B: the adapter changes the output
  LoraModel lora = LoraModel::create(model, config, 3);
  at::Tensor adapted = model.forward_hidden(input);
  EXPECT_GT((adapted - base).abs().max().item<double>(), 1e-3);
  {
    auto off = lora.disabled();
    EXPECT_FALSE(lora.enabled());
    EXPECT_TRUE(at::equal(model.forward_hidden(input), base));
  }
  EXPECT_TRUE(lora.enabled());
  EXPECT_TRUE(at::equal(model.forward_hidden(input), adapted));
}

TEST_F(LoraOnModel, SaveLoadRoundTripAndMerge) {
  fs::path dir = temp_dir("roundtrip");
  LoraConfig config = small_config();
  config.init_lora_weights = "false";
  config.rank_pattern = {{"down_proj", 2}};
  config.base_model_name_or_path = (kLlama / "model").string();
  LoraModel lora = LoraModel::create(model, config, 5);
  lora.save(dir);
  ModelInput input = tokens({1, 415, 5565, 302, 11170, 349});
  at::NoGradGuard no_grad;
  at::Tensor expected = model.forward_hidden(input);

  auto file = SafetensorsFile::open(dir / "adapter_model.safetensors");
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->names().size(), 28u);
  EXPECT_EQ(file->shape("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight"),
            (std::vector<int64_t>{2, 64}));
  nlohmann::json saved = nlohmann::json::parse(read_file(dir / "adapter_config.json"));
  EXPECT_EQ(saved["rank_pattern"]["down_proj"], 2);
  EXPECT_EQ(saved["base_model_name_or_path"], (kLlama / "model").string());

  LlamaModel fresh = LlamaModel::load(kLlama / "model", at::kFloat, at::kCPU);
  LoraModel loaded = LoraModel::load(fresh, dir);
  EXPECT_TRUE(at::equal(fresh.forward_hidden(input), expected));
  ASSERT_EQ(loaded.named_parameters().size(), 28u);

  loaded.merge_and_unload();
  EXPECT_TRUE(loaded.modules().empty());
  at::Tensor merged = fresh.forward_hidden(input);
  EXPECT_TRUE(at::allclose(merged, expected, 1e-4, 1e-5));
  fs::remove_all(dir);
}

TEST_F(LoraOnModel, MismatchedBaseModelsAreClearErrors) {
  fs::path dir = temp_dir("mismatch");
  fs::copy(kLlama / "adapter", dir, fs::copy_options::recursive);
  // Wrong shapes: a model with a different hidden size.
  ModelConfig wide = ModelConfig::from_file(kLlama / "model" / "config.json");
  wide.hidden_size = 48;
  wide.head_dim = 12;
  LlamaModel wide_model = LlamaModel::random(wide, at::kFloat, at::kCPU, 1);
  std::string message = error_of([&] { LoraModel::load(wide_model, dir); });
  EXPECT_NE(message.find(
                "has shape [4, 32] but the model's model.layers.0.self_attn.q_proj needs [4, 48]"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("does not fit this base model"), std::string::npos) << message;
  // Missing module: a model with 3 layers.
  ModelConfig deep = ModelConfig::from_file(kLlama / "model" / "config.json");
  deep.num_hidden_layers = 3;
  LlamaModel deep_model = LlamaModel::random(deep, at::kFloat, at::kCPU, 1);
  message = error_of([&] { LoraModel::load(deep_model, dir); });
  EXPECT_NE(message.find("no tensor 'base_model.model.model.layers.2."), std::string::npos)
      << message;
  // Extra tensors: a model with 1 layer.
  ModelConfig shallow = deep;
  shallow.num_hidden_layers = 1;
  LlamaModel shallow_model = LlamaModel::random(shallow, at::kFloat, at::kCPU, 1);
  message = error_of([&] { LoraModel::load(shallow_model, dir); });
  EXPECT_NE(message.find("layers.1."), std::string::npos) << message;
  EXPECT_NE(message.find("no matching targeted linear layer"), std::string::npos) << message;
  // Missing files.
  fs::remove(dir / "adapter_model.safetensors");
  message = error_of([&] { LoraModel::load(model, dir); });
  EXPECT_NE(message.find("no adapter_model.safetensors"), std::string::npos) << message;
  message = error_of([&] { LoraModel::load(model, dir / "nope"); });
  EXPECT_NE(message.find("adapter folder not found"), std::string::npos) << message;
  fs::remove_all(dir);
}

TEST_F(LoraOnModel, SaveHfModelWritesAShardedFolderThatLoadsBack) {
  fs::path out = temp_dir("merged") / "model";
  save_hf_model(model, kLlama / "model", out, at::kBFloat16, 1'000'000);
  EXPECT_TRUE(fs::exists(out / "model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(out / "generation_config.json"));
  EXPECT_EQ(config_dtype(out / "config.json"), at::kBFloat16);
  LlamaModel back = LlamaModel::load(out, at::kFloat, at::kCPU);
  auto original = model.named_parameters();
  auto reloaded = back.named_parameters();
  ASSERT_EQ(original.size(), reloaded.size());
  for (size_t i = 0; i < original.size(); ++i)
    EXPECT_TRUE(at::equal(original[i].second.to(at::kBFloat16).to(at::kFloat), reloaded[i].second))
        << original[i].first;
  fs::remove_all(out.parent_path());
  EXPECT_EQ(parse_size_bytes("2GB", "--max-shard-size"), 2'000'000'000);
  EXPECT_EQ(parse_size_bytes("1GiB", "--max-shard-size"), 1073741824);
  EXPECT_EQ(parse_size_bytes("500mb", "--max-shard-size"), 500'000'000);
  EXPECT_NE(
      error_of([] { parse_size_bytes("big", "--max-shard-size"); }).find("--max-shard-size: 'big'"),
      std::string::npos);
}

}  // namespace
}  // namespace dpo
