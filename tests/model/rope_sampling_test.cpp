// RoPE inverse frequencies for each type, and token choice (greedy, top-k, top-p, seeded).
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

#include "model/rope.h"
#include "model/sampling.h"
#include "util/error.h"

using namespace dpo;

namespace {

ModelConfig rope_config(const std::string& type, double factor) {
  ModelConfig c;
  c.head_dim = 8;
  c.max_position_embeddings = 16;
  c.rope.type = type;
  c.rope.theta = 10000;
  c.rope.factor = factor;
  return c;
}

at::Tensor expected_default(double base) {
  std::vector<float> v;
  for (int i = 0; i < 8; i += 2) v.push_back(static_cast<float>(1.0 / std::pow(base, i / 8.0)));
  return at::tensor(v);
}

}  // namespace

TEST(Rope, DefaultLinearDynamic) {
  RotaryEmbedding plain(rope_config("default", 1));
  EXPECT_TRUE(at::allclose(plain.inv_freq(5), expected_default(10000), 1e-6, 0));
  RotaryEmbedding linear(rope_config("linear", 4));
  EXPECT_TRUE(at::allclose(linear.inv_freq(5), expected_default(10000) / 4, 1e-6, 0));
  RotaryEmbedding dynamic(rope_config("dynamic", 2));
  EXPECT_TRUE(at::allclose(dynamic.inv_freq(15), expected_default(10000), 1e-6, 0));  // within 16
  // Past the trained length: base * ((factor * L / L0) - (factor - 1))^(D / (D - 2)), L = 32.
  double base = 10000 * std::pow(2.0 * 32 / 16 - 1, 8.0 / 6.0);
  EXPECT_TRUE(at::allclose(dynamic.inv_freq(31), expected_default(base), 1e-6, 0));
  // cos/sin of a batch reaching position 31 use the dynamic frequencies.
  auto [dynamic_cos, dynamic_sin] =
      dynamic.cos_sin(at::arange(32, at::kLong).unsqueeze(0), at::kFloat);
  EXPECT_TRUE(at::allclose(dynamic_cos[0][31].narrow(0, 0, 4), at::cos(31 * expected_default(base)),
                           1e-5, 1e-6));
  // cos/sin: (N, T, D), the two halves repeated.
  auto [cos, sin] = plain.cos_sin(at::arange(3, at::kLong).unsqueeze(0), at::kFloat);
  EXPECT_EQ(cos.sizes(), (std::vector<int64_t>{1, 3, 8}));
  EXPECT_TRUE(at::allclose(cos[0][2].narrow(0, 0, 4), at::cos(2 * expected_default(10000))));
  EXPECT_TRUE(at::equal(sin[0][2].narrow(0, 0, 4), sin[0][2].narrow(0, 4, 4)));
}

TEST(Rope, Llama3Bands) {
  ModelConfig c = rope_config("llama3", 8);
  c.head_dim = 64;
  c.rope.theta = 500000;
  c.rope.low_freq_factor = 1;
  c.rope.high_freq_factor = 4;
  c.rope.original_max_position_embeddings = 8192;
  at::Tensor base = 1.0 / at::pow(500000.0, at::arange(0, 64, 2, at::kLong).to(at::kFloat) / 64.0);
  at::Tensor got = RotaryEmbedding(c).inv_freq(10);
  for (int64_t i = 0; i < 32; ++i) {
    double f = base[i].item<double>(), wavelen = 2 * M_PI / f, g = got[i].item<double>();
    if (wavelen < 8192 / 4.0)
      EXPECT_FLOAT_EQ(g, f);  // high frequencies untouched
    else if (wavelen > 8192 / 1.0)
      EXPECT_FLOAT_EQ(g, f / 8);  // low frequencies scaled
    else {
      double smooth = (8192 / wavelen - 1) / (4 - 1);
      EXPECT_NEAR(g, (1 - smooth) * f / 8 + smooth * f, 1e-6 * f);
    }
  }
}

TEST(Sampling, GreedyTopKTopPAndSeed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(1);
  at::Tensor logits = at::tensor(std::vector<float>{0.1f, 2.0f, 1.9f, -1.0f, 0.5f});
  EXPECT_EQ(choose_token(logits, {}, g), 1);
  // top-k 1 or a tiny top-p leave only the argmax, whatever the temperature.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(choose_token(logits, {5.0, 1, 1.0}, g), 1);
    EXPECT_EQ(choose_token(logits, {5.0, 0, 0.01}, g), 1);
    int64_t two = choose_token(logits, {5.0, 2, 1.0}, g);
    EXPECT_TRUE(two == 1 || two == 2);
  }
  // top-p 0.6: probabilities (softmax) ~ [.07 .46 .42 .02 .10]: keeps {1, 2}.
  for (int i = 0; i < 20; ++i) {
    int64_t t = choose_token(logits, {1.0, 0, 0.6}, g);
    EXPECT_TRUE(t == 1 || t == 2) << t;
  }
  // Same seed, same draws; every token reachable at high temperature.
  auto draws = [&](uint64_t seed) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<int64_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(choose_token(logits, {10.0, 0, 1.0}, gen));
    return out;
  };
  auto a = draws(3);
  EXPECT_EQ(a, draws(3));
  EXPECT_NE(a, draws(4));
  for (int64_t token = 0; token < 5; ++token)
    EXPECT_NE(std::find(a.begin(), a.end(), token), a.end());
}

TEST(Sampling, InvalidOptions) {
  auto message = [](SamplingOptions o) {
    try {
      validate(o);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(message({1.0, -1, 1.0}), "--top-k must be >= 0 (0 = off), got -1");
  EXPECT_EQ(message({1.0, 0, 0.0}), "--top-p must be in (0, 1], got 0");
  EXPECT_EQ(message({1.0, 0, 1.5}), "--top-p must be in (0, 1], got 1.5");
  EXPECT_EQ(message({-1.0, 0, 1.0}), "--temperature must be >= 0 (0 = greedy), got -1");
  // NaN and infinity used to reach libtorch (an internal error with a stack trace)
  EXPECT_EQ(message({std::nan(""), 0, 1.0}), "--temperature must be >= 0 (0 = greedy), got nan");
  EXPECT_EQ(message({INFINITY, 0, 1.0}), "--temperature must be >= 0 (0 = greedy), got inf");
  EXPECT_EQ(message({1.0, 0, std::nan("")}), "--top-p must be in (0, 1], got nan");
}
