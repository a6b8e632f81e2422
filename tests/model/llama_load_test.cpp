// Loading: HF names with no mapping table, tied embeddings, one error listing every problem;
// random weights as transformers initializes them.
#include <gtest/gtest.h>

#include <optional>

#include <filesystem>

#include "io/safetensors.h"
#include "model/fixture_util.h"
#include "model/kv_cache.h"
#include "model/llama.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

using namespace dpo;
namespace fs = std::filesystem;

namespace {

fs::path copy_fixture_model(const std::string& kind, const std::string& tag) {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_model_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(dpo::testing::fixture_dir(kind) / "model" / "config.json", dir / "config.json");
  return dir;
}

std::string load_error(const fs::path& dir) {
  try {
    LlamaModel::load(dir, at::kFloat, at::kCPU);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(LlamaLoad, NamesAndTiedEmbeddings) {
  auto qwen = LlamaModel::load(dpo::testing::fixture_dir("qwen2") / "model", at::kFloat, at::kCPU);
  auto params = qwen.named_parameters();
  // 1 embedding + 2 layers x (2 norms + 7 weights + 3 biases) + final norm; no lm_head (tied).
  EXPECT_EQ(params.size(), 1u + 2 * 12 + 1);
  EXPECT_EQ(params.front().first, "model.embed_tokens.weight");
  EXPECT_EQ(params[3].first, "model.layers.0.self_attn.q_proj.bias");
  EXPECT_TRUE(qwen.lm_head_weight().is_same(params.front().second));
  auto linears = qwen.named_linears();
  EXPECT_EQ(linears.size(), 2u * 7 + 1);
  EXPECT_EQ(linears[0].first, "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(linears.back().first, "lm_head");

  auto llama = LlamaModel::load(dpo::testing::fixture_dir("llama") / "model", at::kFloat, at::kCPU);
  EXPECT_EQ(llama.named_parameters().back().first, "lm_head.weight");
  EXPECT_FALSE(llama.lm_head_weight().is_same(llama.named_parameters().front().second));
  for (const auto& [name, t] : llama.named_parameters()) EXPECT_FALSE(t.requires_grad()) << name;
}

TEST(LlamaLoad, OneErrorListsEveryProblem) {
  auto tensors =
      load_safetensors(dpo::testing::fixture_dir("llama") / "model" / "model.safetensors");
  tensors.erase("model.layers.1.mlp.up_proj.weight");
  tensors.erase("lm_head.weight");
  tensors["model.layers.0.self_attn.k_proj.weight"] = at::zeros({8, 32});
  tensors["model.layers.2.mlp.up_proj.weight"] = at::zeros({64, 32});
  tensors["model.layers.0.self_attn.rotary_emb.inv_freq"] = at::zeros({4});  // old exports: ignored
  fs::path dir = copy_fixture_model("llama", "errors");
  save_safetensors(dir / "model.safetensors", tensors);
  std::string message = load_error(dir);
  EXPECT_NE(
      message.find(dir.string() + ": weights do not match config.json (llama model, 2 layers)"),
      std::string::npos)
      << message;
  EXPECT_NE(message.find("missing (2): model.layers.1.mlp.up_proj.weight, lm_head.weight"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("wrong shape (1): model.layers.0.self_attn.k_proj.weight (expected [16, "
                         "32], got [8, 32])"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("unexpected (1): model.layers.2.mlp.up_proj.weight"), std::string::npos)
      << message;
  EXPECT_EQ(message.find("inv_freq"), std::string::npos) << message;
  fs::remove_all(dir);
}

TEST(LlamaLoad, MissingFolderAndShardedModel) {
  EXPECT_NE(
      load_error("/nonexistent/model").find("/nonexistent/model: model folder does not exist"),
      std::string::npos);
  auto tensors =
      load_safetensors(dpo::testing::fixture_dir("llama") / "model" / "model.safetensors");
  fs::path dir = copy_fixture_model("llama", "sharded");
  save_safetensors_sharded(dir, tensors, 600'000);
  EXPECT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
  auto sharded = LlamaModel::load(dir, at::kFloat, at::kCPU);
  auto original =
      LlamaModel::load(dpo::testing::fixture_dir("llama") / "model", at::kFloat, at::kCPU);
  auto a = sharded.named_parameters(), b = original.named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  fs::remove_all(dir);
}

TEST(LlamaLoad, Bf16Conversion) {
  auto model =
      LlamaModel::load(dpo::testing::fixture_dir("llama") / "model", at::kBFloat16, at::kCPU);
  EXPECT_EQ(model.dtype(), at::kBFloat16);
  for (const auto& [name, t] : model.named_parameters())
    EXPECT_EQ(t.scalar_type(), at::kBFloat16) << name;
  at::NoGradGuard no_grad;
  ModelInput input;
  input.input_ids = at::tensor(std::vector<int64_t>{1, 415, 5565}, at::kLong).unsqueeze(0);
  at::Tensor logits = model.logits(model.forward_hidden(input));
  EXPECT_EQ(logits.scalar_type(), at::kBFloat16);
  EXPECT_FALSE(logits.isnan().any().item<bool>());
}

TEST(LlamaRandom, HfInitSeeded) {
  ModelConfig config =
      ModelConfig::from_file(dpo::testing::fixture_dir("qwen2") / "model" / "config.json");
  auto a = LlamaModel::random(config, at::kFloat, at::kCPU, 7);
  auto b = LlamaModel::random(config, at::kFloat, at::kCPU, 7);
  auto c = LlamaModel::random(config, at::kFloat, at::kCPU, 8);
  auto pa = a.named_parameters(), pb = b.named_parameters(), pc = c.named_parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    const auto& [name, t] = pa[i];
    EXPECT_TRUE(at::equal(t, pb[i].second)) << name;
    if (ends_with(name, "norm.weight")) {
      EXPECT_TRUE(at::equal(t, at::ones_like(t))) << name;
    } else if (ends_with(name, ".bias")) {
      EXPECT_TRUE(at::equal(t, at::zeros_like(t))) << name;
    } else {
      EXPECT_NEAR(t.std().item<double>(), 0.02, 0.004) << name;
      EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.004) << name;
      EXPECT_FALSE(at::equal(t, pc[i].second)) << name;
    }
  }
  EXPECT_TRUE(a.lm_head_weight().is_same(pa.front().second));  // tied
}

// The window hides keys only beyond it, the same way in a full forward and when decoding with the
// KV cache (transformers' numbers: tests/lora/architecture_reference_test.cpp).
TEST(LlamaSlidingWindow, HidesOnlyKeysBeyondTheWindowInForwardAndDecoding) {
  ModelConfig config =
      ModelConfig::from_file(dpo::testing::fixture_dir("qwen2") / "model" / "config.json");
  auto last_logits = [&](std::optional<int64_t> window, int64_t length) {
    ModelConfig c = config;
    c.sliding_window = window;
    c.sliding_layers.assign(static_cast<size_t>(c.num_hidden_layers), window.has_value());
    auto model = LlamaModel::random(c, at::kFloat, at::kCPU, 7);
    at::NoGradGuard no_grad;
    at::Tensor ids = at::arange(3, 3 + length, at::kLong).unsqueeze(0);  // (1, T)
    ModelInput input;
    input.input_ids = ids;
    at::Tensor full = model.logits(model.forward_hidden(input))[0][-1];  // (V)
    auto cache = model.make_cache(length);
    at::Tensor stepped;
    for (int64_t t = 0; t < length; ++t) stepped = model.forward_step(ids.narrow(1, t, 1), *cache);
    EXPECT_TRUE(at::allclose(full, stepped[0], 1e-4, 1e-5)) << "window " << window.value_or(0);
    return full;
  };
  at::Tensor unlimited = last_logits(std::nullopt, 10);
  EXPECT_TRUE(at::allclose(last_logits(10, 10), unlimited, 1e-5, 1e-6));  // the window holds all
  EXPECT_FALSE(at::allclose(last_logits(4, 10), unlimited, 1e-3, 1e-4));  // it hides 6 keys
}
