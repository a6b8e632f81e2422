// preference_forward on a fixture model: every batch layout gives the same policy and reference
// log-probs; the reference sources agree; the token metrics equal those of the full logits.
#include "train/preference.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "model/attention.h"
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

// Prompt sharing (each prompt computed once, both completions attending to it) against the padded
// layout on every fixture model, through the segment mask and through variable-length attention:
// the completion and whole-sequence log-probs, the per-position statistics and the adapters'
// gradients.
class PromptSharing : public ::testing::TestWithParam<std::string> {};

TEST_P(PromptSharing, GivesThePaddedNumbersAndGradients) {
  const fs::path dir = testing::hf_fixture(GetParam());
  LlamaModel model = LlamaModel::load(dir / "model", at::kFloat, at::kCPU);
  LoraModel lora = LoraModel::load(model, dir / "adapter");
  // The fixture's pairs, and rows with a one-token prompt, completions cut to their first 2
  // tokens (keep_start truncation), no prompt (what keep_end truncation can leave) and a long
  // prompt (every fixture prompt in turn).
  std::vector<PreferenceExample> pairs = testing::fixture_pairs(GetParam());
  const PreferenceExample first = pairs[0], second = pairs[1];
  auto add = [&](TokenIds prompt, TokenIds chosen, TokenIds rejected) {
    pairs.push_back({std::move(prompt), std::move(chosen), std::move(rejected),
                     static_cast<int64_t>(pairs.size())});
  };
  add({first.prompt_ids[0]}, first.chosen_ids, first.rejected_ids);
  add(second.prompt_ids, {second.chosen_ids.begin(), second.chosen_ids.begin() + 2},
      {second.rejected_ids.begin(), second.rejected_ids.begin() + 2});
  add({}, first.chosen_ids, second.rejected_ids);
  TokenIds long_prompt;
  for (const PreferenceExample& e : testing::fixture_pairs(GetParam()))
    long_prompt.insert(long_prompt.end(), e.prompt_ids.begin(), e.prompt_ids.end());
  add(long_prompt, second.chosen_ids, first.rejected_ids);
  LogProbOptions options;
  options.token_stats = options.every_token = options.position_logit_means = true;
  auto run = [&](const TokenBatch& batch, VarlenPolicy policy) {
    AttentionChoice choice = model.attention();
    choice.varlen = policy;
    model.set_attention(choice);
    Reference source = Reference::adapters_off(&lora);
    PreferenceForward forward = preference_forward(model, batch, options, source);
    at::Tensor loss = preference_loss(LossConfig(), forward.logps).loss;
    (loss + 0.01 * forward.policy.all_logps.sum()).backward();
    std::vector<at::Tensor> grads;
    for (at::Tensor& w : lora.parameters()) {
      grads.push_back(w.grad().clone());
      w.mutable_grad() = at::Tensor();
    }
    return std::make_pair(forward, grads);
  };
  const AttentionChoice saved = model.attention();
  auto [padded, padded_grads] =
      run(make_preference_batch(pairs, BatchLayout::kPadded, 0), VarlenPolicy::kNever);
  for (VarlenPolicy policy : {VarlenPolicy::kNever, VarlenPolicy::kAlways})
    for (RowWidth width : {RowWidth::one_row(), RowWidth::at_most(40)}) {
      TokenBatch batch = make_preference_batch(pairs, BatchLayout::kPromptSharing, 0, width);
      auto [shared, shared_grads] = run(batch, policy);
      const std::string where =
          fmt::format("varlen {} rows {}", static_cast<int>(policy), batch.input.input_ids.size(0));
      const SequenceLogProbs &a = shared.policy, &b = padded.policy;
      EXPECT_TRUE(at::allclose(a.logps, b.logps, 1e-5, 1e-4)) << where;
      EXPECT_TRUE(at::allclose(a.all_logps, b.all_logps, 1e-5, 1e-4)) << where;
      EXPECT_TRUE(at::equal(a.all_tokens, b.all_tokens)) << where;
      EXPECT_TRUE(at::equal(a.num_tokens, b.num_tokens)) << where;
      EXPECT_TRUE(at::equal(a.num_positions, b.num_positions)) << where;
      EXPECT_TRUE(at::allclose(a.position_logit_mean_sum, b.position_logit_mean_sum, 1e-5, 1e-6))
          << where;
      EXPECT_TRUE(at::allclose(a.entropy_sum, b.entropy_sum, 1e-5, 1e-6)) << where;
      EXPECT_TRUE(at::equal(a.correct_tokens, b.correct_tokens)) << where;
      EXPECT_TRUE(at::allclose(shared.logps.ref_rejected_logps, padded.logps.ref_rejected_logps,
                               1e-5, 1e-4))
          << where;
      ASSERT_EQ(shared_grads.size(), padded_grads.size());
      for (size_t i = 0; i < padded_grads.size(); ++i) {
        const double scale = padded_grads[i].abs().max().item<double>();
        EXPECT_GT(scale, 0.0) << where << " adapter tensor " << i;
        EXPECT_LE((shared_grads[i] - padded_grads[i]).abs().max().item<double>(), 1e-5 * scale)
            << where << " adapter tensor " << i;
      }
    }
  model.set_attention(saved);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, PromptSharing,
                         ::testing::Values("llama", "qwen2", "llama3rope"));

}  // namespace
}  // namespace dpo
