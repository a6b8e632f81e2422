// The Llama-family forward pass against transformers (float32, CPU) for each fixture model:
// logits, hidden states, per-token log-probs, padded and packed batches, greedy generation.
#include <gtest/gtest.h>

#include "model/attention.h"
#include "model/fixture_util.h"
#include "model/generate.h"
#include "model/kv_cache.h"
#include "model/llama.h"
#include "model/varlen_attention.h"
#include "util/error.h"

using namespace dpo;
using namespace dpo::testing;

namespace {

constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;  // for values near zero

class FixtureModel : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {}
  void SetUp() override {
    fixture = load_fixture(GetParam());
    model = std::make_unique<LlamaModel>(
        LlamaModel::load(fixture_dir(GetParam()) / "model", at::kFloat, at::kCPU));
  }
  at::Tensor logits_of(const std::vector<int64_t>& ids) {
    ModelInput input;
    input.input_ids = ids_tensor(ids);
    return model->logits(model->forward_hidden(input)).squeeze(0);  // (T, V)
  }
  Fixture fixture;
  std::unique_ptr<LlamaModel> model;
};

TEST_P(FixtureModel, LogitsFirstAndLast) {
  at::NoGradGuard no_grad;
  for (const char* side : {"chosen", "rejected"}) {
    const auto& ids = fixture.sequences[std::string(side) == "chosen" ? 0 : 1].second;
    at::Tensor logits = logits_of(ids);
    std::string key = std::string("base.pair0.") + side;
    expect_close(logits[0], fixture.tensors.at(key + ".logits_first"), kRtol, kAtol,
                 key + ".logits_first");
    expect_close(logits[-1], fixture.tensors.at(key + ".logits_last"), kRtol, kAtol,
                 key + ".logits_last");
  }
}

TEST_P(FixtureModel, HiddenStates) {
  at::NoGradGuard no_grad;
  ModelInput input;
  input.input_ids = ids_tensor(fixture.sequences[0].second);
  auto hidden = model->forward_hidden_states(input);
  ASSERT_EQ(hidden.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    std::string key = "base.pair0.chosen.hidden" + std::to_string(i);
    expect_close(hidden[i].squeeze(0), fixture.tensors.at(key), kRtol, kAtol, key);
  }
  EXPECT_TRUE(at::equal(hidden.back(), model->forward_hidden(input)));
}

TEST_P(FixtureModel, EveryTokenLogProb) {
  at::NoGradGuard no_grad;
  for (const auto& [name, ids] : fixture.sequences) {
    at::Tensor logps = token_logps(logits_of(ids), at::tensor(ids, at::kLong));
    expect_close(logps, fixture.tensors.at("base." + name + ".token_logps"), kRtol, 0.0, name);
  }
}

// A model's varlen policy for a scope; its attention choice is restored after.
struct VarlenPolicyScope {
  LlamaModel& model;
  AttentionChoice saved;
  VarlenPolicyScope(LlamaModel& m, VarlenPolicy policy) : model(m), saved(m.attention()) {
    AttentionChoice choice = saved;
    choice.varlen = policy;
    model.set_attention(choice);
  }
  ~VarlenPolicyScope() { model.set_attention(saved); }
};

// Every sequence right-padded into one batch equals one sequence at a time: through the padding
// mask and through variable-length attention (each row's sequence, then its padding).
TEST_P(FixtureModel, PaddedBatchEqualsOneAtATime) {
  at::NoGradGuard no_grad;
  int64_t N = static_cast<int64_t>(fixture.sequences.size()), T = 0;
  for (const auto& s : fixture.sequences) T = std::max<int64_t>(T, s.second.size());
  ModelInput input;
  input.input_ids = at::zeros({N, T}, at::kLong);
  input.attention_mask = at::zeros({N, T}, at::kLong);
  for (int64_t n = 0; n < N; ++n) {
    const auto& ids = fixture.sequences[n].second;
    int64_t len = static_cast<int64_t>(ids.size());
    input.input_ids[n].narrow(0, 0, len).copy_(at::tensor(ids, at::kLong));
    input.attention_mask[n].narrow(0, 0, len).fill_(1);
  }
  for (VarlenPolicy policy : {VarlenPolicy::kNever, VarlenPolicy::kAlways}) {
    VarlenPolicyScope scope(*model, policy);
    at::Tensor logits = model->logits(model->forward_hidden(input));  // (N, T, V)
    EXPECT_FALSE(logits.isnan().any().item<bool>()) << "padded positions must stay finite";
    double worst = 0;
    for (int64_t n = 0; n < N; ++n) {
      const auto& ids = fixture.sequences[n].second;
      int64_t len = static_cast<int64_t>(ids.size());
      at::Tensor single = logits_of(ids);
      worst = std::max(worst, max_abs_diff(logits[n].narrow(0, 0, len), single));
      EXPECT_TRUE(at::allclose(logits[n].narrow(0, 0, len), single, 1e-5, 1e-5))
          << fixture.sequences[n].first;
    }
    std::printf("  padded batch (%s) vs one at a time: max abs diff %.3g\n",
                policy == VarlenPolicy::kAlways ? "varlen" : "mask", worst);
  }
}

// Row 0: sequences 0, 1, 2; row 1: sequences 3, 4 and padding (segment -1).
const std::vector<std::vector<int>> kPackedRows = {{0, 1, 2}, {3, 4}};

// Sequences packed back to back in rows (segment_ids, positions restarting per segment) equal one
// sequence at a time: through the segment mask and through variable-length attention; also with
// explicit position ids and with an explicit `allowed` mask.
TEST_P(FixtureModel, PackedRowsEqualOneAtATime) {
  at::NoGradGuard no_grad;
  const auto& seqs = fixture.sequences;
  const auto& rows = kPackedRows;
  at::Tensor positions;
  ModelInput packed = packed_fixture_input(fixture, rows, 3, &positions);
  EXPECT_TRUE(at::equal(resolve_position_ids(packed).narrow(1, 0, 10), positions.narrow(1, 0, 10)));
  ModelInput explicit_positions = packed;
  explicit_positions.position_ids = positions;
  ModelInput explicit_allowed;
  explicit_allowed.input_ids = packed.input_ids;
  explicit_allowed.position_ids = positions;
  explicit_allowed.allowed = packed.segment_ids.unsqueeze(2) == packed.segment_ids.unsqueeze(1);
  for (VarlenPolicy policy : {VarlenPolicy::kNever, VarlenPolicy::kAlways})
    for (const ModelInput* input : {&packed, &explicit_positions, &explicit_allowed}) {
      VarlenPolicyScope scope(*model, policy);
      at::Tensor logits = model->logits(model->forward_hidden(*input));  // (2, T, V)
      EXPECT_FALSE(logits.isnan().any().item<bool>());
      double worst = 0;
      for (size_t r = 0; r < rows.size(); ++r) {
        int64_t at_t = 0;
        for (int s : rows[r]) {
          int64_t len = static_cast<int64_t>(seqs[s].second.size());
          at::Tensor single = logits_of(seqs[s].second);
          at::Tensor part = logits[r].narrow(0, at_t, len);
          worst = std::max(worst, max_abs_diff(part, single));
          EXPECT_TRUE(at::allclose(part, single, 1e-5, 1e-5)) << seqs[s].first;
          at_t += len;
        }
      }
      std::printf("  packed rows (%s) vs one at a time: max abs diff %.3g\n",
                  policy == VarlenPolicy::kAlways && !input->allowed.defined() ? "varlen" : "mask",
                  worst);
    }
}

// The gradients through variable-length attention equal those through the segment mask: a
// weighted sum of the real tokens' logits, differentiated with respect to every weight of the
// first layer's attention and the embedding.
TEST_P(FixtureModel, VarlenGradientsEqualMaskedGradients) {
  ModelInput packed = packed_fixture_input(fixture, kPackedRows, 2);
  std::vector<at::Tensor> weights;
  for (auto& [name, w] : model->named_parameters())
    if (name.find("layers.0.self_attn") != std::string::npos ||
        name.find("embed") != std::string::npos)
      weights.push_back(w);
  ASSERT_GE(weights.size(), 5u);
  at::Tensor real = packed.segment_ids.ge(0).unsqueeze(-1);  // (2, T, 1)
  auto gradients = [&](VarlenPolicy policy) {
    VarlenPolicyScope scope(*model, policy);
    for (at::Tensor& w : weights) w.requires_grad_(true);
    at::Tensor logits = model->logits(model->forward_hidden(packed));  // (2, T, V)
    at::Tensor probe = at::sin(at::arange(logits.numel(), at::kFloat)).reshape(logits.sizes());
    (logits * probe * real).sum().backward();
    std::vector<at::Tensor> grads;
    for (at::Tensor& w : weights) {
      grads.push_back(w.grad().clone());
      w.mutable_grad() = at::Tensor();
      w.requires_grad_(false);
    }
    return grads;
  };
  auto masked = gradients(VarlenPolicy::kNever), varlen = gradients(VarlenPolicy::kAlways);
  // Relative to each gradient's largest element: the summation order differs, and elements that
  // are sums of cancelling terms carry that largest element's rounding.
  double worst = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double scale = masked[i].abs().max().item<double>();
    const double relative = max_abs_diff(varlen[i], masked[i]) / scale;
    worst = std::max(worst, relative);
    EXPECT_LE(relative, 1e-5) << "weight " << i;
    EXPECT_GT(scale, 0.0) << "weight " << i;
  }
  std::printf("  varlen vs masked gradients: max abs diff / largest gradient %.3g\n", worst);
}

TEST_P(FixtureModel, Greedy16WithKVCache) {
  std::vector<int64_t> prompt =
      fixture.expected["pairs"][0]["prompt_ids"].get<std::vector<int64_t>>();
  GenerationOptions options;
  options.max_new_tokens = 16;  // no EOS stop, as the fixture
  auto output = generate(*model, prompt, options);
  EXPECT_EQ(output, fixture.expected["greedy16_from_prompt0"].get<std::vector<int64_t>>());
}

// The cached step-by-step logits equal a full forward over the whole sequence.
TEST_P(FixtureModel, KVCacheStepsEqualFullForward) {
  at::NoGradGuard no_grad;
  const auto& ids = fixture.sequences[2].second;
  at::Tensor full = logits_of(ids);
  auto cache = model->make_cache(static_cast<int64_t>(ids.size()));
  int64_t prefix = 5;
  at::Tensor first = model->forward_step(ids_tensor({ids.begin(), ids.begin() + prefix}), *cache);
  EXPECT_TRUE(at::allclose(first[0], full[prefix - 1], 1e-5, 1e-5));
  for (size_t t = prefix; t < ids.size(); ++t) {
    at::Tensor step = model->forward_step(ids_tensor({ids[t]}), *cache);
    EXPECT_TRUE(at::allclose(step[0], full[t], 1e-5, 1e-5)) << "position " << t;
  }
  EXPECT_EQ(cache->length(), static_cast<int64_t>(ids.size()));
  EXPECT_THROW(model->forward_step(ids_tensor({1}), *cache), UserError);
}

INSTANTIATE_TEST_SUITE_P(HF, FixtureModel, ::testing::Values("llama", "llama3rope", "qwen2"));

}  // namespace
