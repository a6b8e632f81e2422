// Gradient checkpointing on vs off: the same loss and the same gradients for an input that
// requires grad (the embedding), base weights given requires_grad, and adapter parameters that
// autograd finds only through the recomputed forward.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include "model/checkpoint.h"
#include "model/fixture_util.h"
#include "model/llama.h"

using namespace dpo;

namespace {

// A LoRA-shaped adapter with its own trainable parameters, and dropout so that the recompute must
// replay the RNG state.
class TestAdapter : public LinearAdapter {
 public:
  TestAdapter(int64_t in, int64_t out, int64_t seed) {
    at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
    A = at::empty({4, in}).normal_(0, 0.1, g).requires_grad_(true);
    B = at::empty({out, 4}).normal_(0, 0.1, g).requires_grad_(true);
  }
  at::Tensor delta(const at::Tensor& x) const override {
    return at::linear(at::linear(at::dropout(x, 0.1, /*train=*/true), A), B);
  }
  bool enabled() const override { return true; }
  at::Tensor A, B;
};

struct Grads {
  at::Tensor loss;
  std::vector<at::Tensor> grads;
};

Grads run(LlamaModel& model, const std::vector<at::Tensor>& params, bool checkpointing) {
  for (const auto& p : params)
    if (p.grad().defined()) p.mutable_grad().zero_();
  model.set_gradient_checkpointing(checkpointing);
  ModelInput input;
  input.input_ids =
      at::tensor(std::vector<int64_t>{1, 415, 5565, 302, 11170, 349, 28705, 22263, 1, 99, 7, 2},
                 at::kLong)
          .reshape({2, 6});
  input.attention_mask =
      at::tensor(std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, at::kLong)
          .reshape({2, 6});
  at::manual_seed(123);                                           // the adapters' dropout
  at::Tensor logits = model.logits(model.forward_hidden(input));  // (2, 6, V)
  at::Tensor weights = at::linspace(-1, 1, logits.numel()).reshape(logits.sizes());
  at::Tensor loss = (at::log_softmax(logits, -1) * weights).sum();
  loss.backward();
  Grads out{loss.detach(), {}};
  for (const auto& p : params) out.grads.push_back(p.grad().clone());
  return out;
}

TEST(GradientCheckpointing, SameGradientsOnAndOff) {
  auto model = LlamaModel::load(dpo::testing::fixture_dir("llama") / "model", at::kFloat, at::kCPU);
  std::vector<at::Tensor> params;
  int64_t seed = 0;
  for (auto& [name, linear] : model.named_linears()) {
    if (name == "lm_head") continue;
    auto adapter =
        std::make_shared<TestAdapter>(linear->in_features(), linear->out_features(), ++seed);
    linear->adapter = adapter;
    params.push_back(adapter->A);
    params.push_back(adapter->B);
  }
  for (auto& [name, t] : model.named_parameters())
    if (name == "model.embed_tokens.weight" || name == "model.layers.1.input_layernorm.weight" ||
        name == "model.layers.0.mlp.down_proj.weight") {
      t.requires_grad_(true);
      params.push_back(t);
    }
  Grads off = run(model, params, false);
  Grads on = run(model, params, true);
  EXPECT_TRUE(model.gradient_checkpointing());
  EXPECT_TRUE(at::allclose(on.loss, off.loss, 1e-6, 0));
  ASSERT_EQ(on.grads.size(), off.grads.size());
  double worst = 0;
  for (size_t i = 0; i < on.grads.size(); ++i) {
    ASSERT_TRUE(on.grads[i].defined());
    EXPECT_GT(off.grads[i].abs().max().item<double>(), 0) << "gradient " << i << " is zero";
    worst = std::max(worst, (on.grads[i] - off.grads[i]).abs().max().item<double>());
    EXPECT_TRUE(at::allclose(on.grads[i], off.grads[i], 1e-5, 1e-7)) << "gradient " << i;
  }
  std::printf("  checkpointing on vs off: %zu gradients, max abs diff %.3g\n", on.grads.size(),
              worst);
}

// With only adapter parameters trainable (frozen base, embedding output not requiring grad),
// checkpointed layers still pass gradients to the adapters.
TEST(GradientCheckpointing, AdaptersOnlyStillGetGradients) {
  auto model = LlamaModel::load(dpo::testing::fixture_dir("qwen2") / "model", at::kFloat, at::kCPU);
  Linear* q = model.named_linears()[0].second;
  auto adapter = std::make_shared<TestAdapter>(q->in_features(), q->out_features(), 5);
  q->adapter = adapter;
  Grads off = run(model, {adapter->A, adapter->B}, false);
  Grads on = run(model, {adapter->A, adapter->B}, true);
  for (size_t i = 0; i < 2; ++i) EXPECT_TRUE(at::allclose(on.grads[i], off.grads[i], 1e-5, 1e-7));
  EXPECT_GT(on.grads[1].abs().max().item<double>(), 0);
}

TEST(GradientCheckpointing, NoGradModeRunsPlainForward) {
  auto model = LlamaModel::load(dpo::testing::fixture_dir("llama") / "model", at::kFloat, at::kCPU);
  model.set_gradient_checkpointing(true);
  at::NoGradGuard no_grad;
  ModelInput input;
  input.input_ids = at::tensor(std::vector<int64_t>{1, 2, 3}, at::kLong).unsqueeze(0);
  EXPECT_FALSE(model.forward_hidden(input).requires_grad());
}

}  // namespace
