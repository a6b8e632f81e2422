// preference_forward on a fixture model: every batch layout gives the same policy and reference
// log-probs; the reference sources agree; the token metrics equal those of the full logits.
#include "train/preference.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "train/fixture_pairs.h"
#include "train/metrics.h"
#include "train/objective.h"
#include "util/fs.h"

namespace dpo {
namespace {

const fs::path kLlama = testing::kLlamaFixture;

std::vector<PreferenceExample> fixture_pairs() {
  return testing::llama_fixture_pairs();
}

class Preference : public ::testing::Test {
 protected:
  LlamaModel model = LlamaModel::load(kLlama / "model", at::kFloat, at::kCPU);
  LoraModel lora = LoraModel::load(model, kLlama / "adapter");
  std::vector<PreferenceExample> pairs = fixture_pairs();
};

TEST_F(Preference, EveryLayoutGivesThePaddedLogProbs) {
  at::NoGradGuard no_grad;
  Reference source = Reference::adapters_off(&lora);
  LogProbOptions options;
  options.ld_alpha = 0.5;
  PreferenceForward padded = preference_forward(
      model, make_preference_batch(pairs, BatchLayout::kPadded, 0), options, source);
  for (BatchLayout layout : {BatchLayout::kPacked, BatchLayout::kPromptSharing}) {
    TokenBatch batch = make_preference_batch(pairs, layout, 0, RowWidth::at_most(64));
    PreferenceForward other = preference_forward(model, batch, options, source);
    EXPECT_TRUE(at::allclose(other.policy.logps, padded.policy.logps, 1e-5, 1e-4))
        << static_cast<int>(layout);
    EXPECT_TRUE(at::allclose(other.policy.ld_logps, padded.policy.ld_logps, 1e-5, 1e-4));
    EXPECT_TRUE(
        at::allclose(other.logps.ref_chosen_logps, padded.logps.ref_chosen_logps, 1e-5, 1e-4));
    EXPECT_TRUE(
        at::allclose(other.logps.ref_rejected_logps, padded.logps.ref_rejected_logps, 1e-5, 1e-4));
    EXPECT_TRUE(at::equal(other.policy.num_tokens, padded.policy.num_tokens));
  }
  // Policy and reference differ (the fixture adapter is non-zero); ld_alpha feeds the losses.
  EXPECT_FALSE(at::allclose(padded.logps.chosen_logps, padded.logps.ref_chosen_logps));
  EXPECT_TRUE(at::equal(padded.logps.chosen_logps, padded.policy.ld_logps.slice(0, 0, 4)));
  EXPECT_TRUE(at::equal(padded.logps.chosen_logps_plain, padded.policy.logps.slice(0, 0, 4)));
}

TEST_F(Preference, ReferenceSourcesAgree) {
  at::NoGradGuard no_grad;
  TokenBatch batch = make_preference_batch(pairs, BatchLayout::kPadded, 0);
  Reference from_lora = Reference::adapters_off(&lora);
  RefLogps by_disabling = from_lora.logps(model, batch, {}, {});
  Reference from_model =
      Reference::frozen_copy(LlamaModel::load(kLlama / "model", at::kFloat, at::kCPU));
  RefLogps by_model = from_model.logps(model, batch, {}, {});
  EXPECT_TRUE(at::equal(by_disabling.chosen, by_model.chosen));
  EXPECT_TRUE(at::equal(by_disabling.rejected, by_model.rejected));
  EXPECT_EQ(from_lora.passes(), 1);
  // The tables: looked up by position in the split, no pass.
  RefTables tables;
  tables.train = {at::zeros({4}), at::zeros({4})};
  tables.eval = {at::cat({by_model.chosen, by_model.chosen}),
                 at::cat({by_model.rejected, by_model.rejected})};
  Reference given = Reference::adapters_off(&lora);
  given.use_tables(tables);
  PreferenceForward forward =
      preference_forward(model, batch, {}, given, BatchRows{Split::kEval, {4, 5, 6, 7}});
  EXPECT_TRUE(at::equal(forward.logps.ref_rejected_logps, by_model.rejected));
  EXPECT_EQ(given.passes(), 0);
  EXPECT_TRUE(lora.enabled());
}

TEST_F(Preference, GradientsReachOnlyTheAdapters) {
  TokenBatch batch = make_preference_batch(pairs, BatchLayout::kPadded, 0);
  Reference source = Reference::adapters_off(&lora);
  PreferenceForward forward = preference_forward(model, batch, {}, source);
  EXPECT_FALSE(forward.logps.ref_chosen_logps.requires_grad());
  EXPECT_TRUE(forward.logps.chosen_logps.requires_grad());
  preference_loss(LossConfig(), forward.logps).loss.backward();
  for (const auto& tensor : lora.parameters()) EXPECT_TRUE(tensor.grad().defined());
  for (const auto& [name, tensor] : model.named_parameters())
    EXPECT_FALSE(tensor.grad().defined()) << name;
}

TEST_F(Preference, TokenMetricsEqualThoseOfTheFullLogits) {
  at::NoGradGuard no_grad;
  TokenBatch batch = make_preference_batch(pairs, BatchLayout::kPadded, 0);
  Reference source = Reference::adapters_off(&lora);
  PreferenceForward forward =
      preference_forward(model, batch, logprob_options_for(LossConfig(), true), source);
  LossOutput loss = preference_loss(LossConfig(), forward.logps);
  auto metrics = preference_batch_metrics(loss, forward.logps, forward.policy, 4);

  at::Tensor logits = model.logits(model.forward_hidden(batch.input)).to(at::kDouble);  // (N, T, V)
  at::Tensor shift = logits.slice(1, 0, -1);
  at::Tensor mask = batch.completion_mask.slice(1, 1);  // (N, T-1)
  at::Tensor labels = batch.input.input_ids.slice(1, 1);
  at::Tensor chosen_mask = mask.slice(0, 0, 4), rejected_mask = mask.slice(0, 4);
  // TRL: logits[mask].mean(-1).sum() / mask.sum()
  double chosen_logits = shift.slice(0, 0, 4).index({chosen_mask}).mean(-1).sum().item<double>() /
                         chosen_mask.sum().item<double>();
  double rejected_logits = shift.slice(0, 4).index({rejected_mask}).mean(-1).sum().item<double>() /
                           rejected_mask.sum().item<double>();
  at::Tensor logp = at::log_softmax(shift, -1);
  double entropy = (-(logp.exp() * logp).sum(-1)).index({mask}).mean().item<double>();
  double accuracy = shift.slice(0, 0, 4)
                        .argmax(-1)
                        .eq(labels.slice(0, 0, 4))
                        .index({chosen_mask})
                        .to(at::kDouble)
                        .mean()
                        .item<double>();
  EXPECT_NEAR(metrics["logits/chosen"], chosen_logits, 1e-5 * std::abs(chosen_logits) + 1e-6);
  EXPECT_NEAR(metrics["logits/rejected"], rejected_logits, 1e-5 * std::abs(rejected_logits) + 1e-6);
  EXPECT_NEAR(metrics["entropy"], entropy, 1e-5 * entropy);
  EXPECT_DOUBLE_EQ(metrics["mean_token_accuracy"], accuracy);
  EXPECT_EQ(metrics.count("nll_loss"), 0u);

  MetricAverager averager;
  averager.add({{"rewards/chosen", 1.0}, {"num_tokens", 10}});
  averager.add({{"rewards/chosen", 3.0}, {"num_tokens", 25}});
  auto mean = averager.mean("eval_");
  EXPECT_EQ(mean["eval_rewards/chosen"], 2.0);
  EXPECT_EQ(mean["eval_num_tokens"], 25);
}

}  // namespace
}  // namespace dpo
