// AdamW against torch's update rule written out in double; state round trip; clipping.
#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "util/error.h"

namespace dpo {
namespace {

// torch.optim.AdamW (single-tensor) for one scalar, in double.
struct ScalarAdamW {
  double p, m = 0, v = 0;
  int step = 0;
  void update(double g, double lr, double b1, double b2, double eps, double wd) {
    ++step;
    p *= 1 - lr * wd;
    m = m + (1 - b1) * (g - m);
    v = b2 * v + (1 - b2) * g * g;
    double c1 = 1 - std::pow(b1, step), c2 = 1 - std::pow(b2, step);
    p -= lr / c1 * m / (std::sqrt(v) / std::sqrt(c2) + eps);
  }
};

TEST(AdamW, MatchesTorchsRuleOverSeveralStepsWithDecayGroups) {
  at::Tensor weight =
      at::tensor({0.5, -1.5, 2.0, 0.25}, at::kDouble).reshape({2, 2}).requires_grad_(true);
  at::Tensor bias = at::tensor({0.1, -0.2}, at::kDouble).requires_grad_(true);
  auto groups = weight_decay_groups({{"layer.weight", weight}, {"layer.bias", bias}}, 0.1);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].params[0].first, "layer.weight");
  EXPECT_EQ(groups[1].weight_decay, 0.0);
  AdamWOptions options;
  options.lr = 0.05;
  options.beta1 = 0.8;
  options.beta2 = 0.95;
  options.eps = 1e-6;
  AdamW adam(groups, options);
  std::vector<ScalarAdamW> ref_w = {{0.5}, {-1.5}, {2.0}, {0.25}}, ref_b = {{0.1}, {-0.2}};
  const std::vector<std::vector<double>> grads_w = {
      {1.0, -2.0, 0.5, 0.0}, {0.3, 0.3, -0.1, 4.0}, {-1, 1, -1, 1}};
  const std::vector<std::vector<double>> grads_b = {{0.2, -0.1}, {0.0, 1.0}, {5.0, -5.0}};
  for (size_t step = 0; step < grads_w.size(); ++step) {
    weight.mutable_grad() = at::tensor(grads_w[step], at::kDouble).reshape({2, 2});
    bias.mutable_grad() = at::tensor(grads_b[step], at::kDouble);
    adam.step();
    for (int i = 0; i < 4; ++i) ref_w[i].update(grads_w[step][i], 0.05, 0.8, 0.95, 1e-6, 0.1);
    for (int i = 0; i < 2; ++i) ref_b[i].update(grads_b[step][i], 0.05, 0.8, 0.95, 1e-6, 0.0);
    for (int i = 0; i < 4; ++i)
      EXPECT_NEAR(weight.view(-1)[i].item<double>(), ref_w[i].p, 1e-14) << step;
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(bias[i].item<double>(), ref_b[i].p, 1e-14) << step;
  }
  adam.zero_grad();
  EXPECT_FALSE(weight.grad().defined());
  // No gradient: no update, no state change.
  at::Tensor before = weight.detach().clone();
  adam.step();
  EXPECT_TRUE(at::equal(before, weight.detach()));
}

TEST(AdamW, FirstStepMovesEveryCoordinateByLr) {
  // Step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps).
  at::Tensor p = at::zeros({3}).requires_grad_(true);
  AdamW adam({ParamGroup{{{"p", p}}, 0.0}}, AdamWOptions{1e-2, 0.9, 0.999, 1e-8});
  p.mutable_grad() = at::tensor({3.0f, -1e-3f, 0.0f});
  adam.step();
  EXPECT_NEAR(p[0].item<double>(), -1e-2, 1e-9);
  EXPECT_NEAR(p[1].item<double>(), 1e-2 * 1e-3 / (1e-3 + 1e-8), 1e-9);
  EXPECT_EQ(p[2].item<double>(), 0.0);
}

TEST(AdamW, StateDictRoundTripContinuesIdentically) {
  auto make = [] { return at::tensor({1.0, 2.0, 3.0}, at::kDouble).requires_grad_(true); };
  at::Tensor a = make(), b = make();
  AdamW first({ParamGroup{{{"w", a}}, 0.01}}, AdamWOptions{});
  AdamW second({ParamGroup{{{"w", b}}, 0.01}}, AdamWOptions{});
  at::Tensor g1 = at::tensor({0.1, -0.2, 0.3}, at::kDouble),
             g2 = at::tensor({-1.0, 0.5, 0.0}, at::kDouble);
  a.mutable_grad() = g1;
  first.step();
  b.mutable_grad() = g1;
  second.step();
  auto state = first.state_dict();
  ASSERT_EQ(state.size(), 3u);
  EXPECT_EQ(state.at("w.step").item<int64_t>(), 1);
  AdamW resumed({ParamGroup{{{"w", b}}, 0.01}}, AdamWOptions{});
  resumed.load_state_dict(state, "optimizer.safetensors");
  a.mutable_grad() = g2;
  first.step();
  b.mutable_grad() = g2;
  resumed.step();
  EXPECT_TRUE(at::equal(a.detach(), b.detach()));
}

TEST(AdamW, LoadStateErrorsNameTheKey) {
  at::Tensor w = at::zeros({2, 2}).requires_grad_(true);
  AdamW adam({ParamGroup{{{"w", w}}, 0.0}}, AdamWOptions{});
  auto expect_message = [&](const std::map<std::string, at::Tensor>& state,
                            const std::string& needle) {
    try {
      adam.load_state_dict(state, "ckpt/optimizer.safetensors");
      FAIL() << "no error for " << needle;
    } catch (const UserError& e) {
      std::string message = e.what();
      EXPECT_NE(message.find(needle), std::string::npos) << message;
      EXPECT_NE(message.find("ckpt/optimizer.safetensors"), std::string::npos) << message;
    }
  };
  expect_message({{"other.exp_avg", at::zeros({2, 2})}},
                 "'other.exp_avg' belongs to no trainable parameter");
  expect_message({{"w.exp_avg", at::zeros({3})},
                  {"w.exp_avg_sq", at::zeros({2, 2})},
                  {"w.step", at::scalar_tensor(1)}},
                 "has shape");
  expect_message({{"w.exp_avg", at::zeros({2, 2})}}, "incomplete");
}

TEST(ClipGradNorm, ReturnsTheNormBeforeClippingAndScalesAsTorch) {
  at::Tensor a = at::zeros({2}).requires_grad_(true), b = at::zeros({1}).requires_grad_(true);
  at::Tensor unused = at::zeros({1}).requires_grad_(true);
  a.mutable_grad() = at::tensor({3.0f, 0.0f});
  b.mutable_grad() = at::tensor({4.0f});
  double norm = clip_grad_norm({a, b, unused}, 1.0);
  EXPECT_NEAR(norm, 5.0, 1e-6);
  double coef = 1.0 / (5.0 + 1e-6);
  EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 * coef, 1e-6);
  EXPECT_NEAR(b.grad()[0].item<double>(), 4.0 * coef, 1e-6);
  // Below the threshold nothing changes.
  double small = clip_grad_norm({a, b}, 10.0);
  EXPECT_NEAR(small, 1.0, 1e-5);
  EXPECT_NEAR(b.grad()[0].item<double>(), 4.0 * coef, 1e-6);
  EXPECT_EQ(clip_grad_norm({unused}, 1.0), 0.0);
}

}  // namespace
}  // namespace dpo
