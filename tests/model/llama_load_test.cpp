// Loading: HF names with no mapping table, tied embeddings, one error listing every problem;
// random weights as transformers initializes them.
#include <gtest/gtest.h>

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

TEST(LlamaSlidingWindow, SequencesLongerThanTheWindowAreRefusedNotComputedDifferently) {
  ModelConfig config =
      ModelConfig::from_file(dpo::testing::fixture_dir("qwen2") / "model" / "config.json");
  config.sliding_window = 4;
  auto model = LlamaModel::random(config, at::kFloat, at::kCPU, 7);
  at::NoGradGuard no_grad;
  auto run = [&](int64_t length, bool right_padded) {
    ModelInput input;
    input.input_ids = at::ones({2, length}, at::kLong);
    if (right_padded) {  // the second row is one token long: the real length is what counts
      input.attention_mask = at::ones({2, length}, at::kLong);
      input.attention_mask[0].slice(0, 4).fill_(0);
      input.attention_mask[1].slice(0, 1).fill_(0);
    }
    return model.forward_hidden(input);
  };
  EXPECT_NO_THROW(run(4, false));
  EXPECT_NO_THROW(run(6, true));  // 4 real tokens at most
  try {
    run(5, false);
    FAIL() << "no error";
  } catch (const dpo::UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "a sequence of 5 tokens is longer than the model's sliding attention window (4 "
              "tokens, sliding_window in config.json), which dpo does not implement; keep "
              "max_length (for generation: prompt + new tokens) at most 4");
  }
  auto cache = model.make_cache(8);
  model.forward_step(at::ones({1, 4}, at::kLong), *cache);
  EXPECT_THROW(model.forward_step(at::ones({1, 1}, at::kLong), *cache), dpo::UserError);
}
