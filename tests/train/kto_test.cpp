// KTO: its loss against the formulas of TRL 1.16's KTOTrainer in plain double arithmetic, and
// the examples it trains on (KL completions, truncation, drops) as TRL prepares them.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "train/kto_data.h"
#include "train/kto_losses.h"
#include "util/error.h"

namespace dpo {
namespace {

using Vec = std::vector<double>;

double sig(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

at::Tensor tensor(const Vec& v) {
  return at::tensor(v, at::dtype(at::kDouble));
}

const Vec kPolicy = {-10.0, -20.0, -5.0, -7.5};
const Vec kReference = {-11.0, -19.0, -5.5, -8.0};
const Vec kPolicyKl = {-30.0, -25.0, -12.0, -14.0};
const Vec kReferenceKl = {-30.5, -25.5, -12.2, -13.0};
const std::vector<uint8_t> kLabels = {1, 0, 1, 0};

at::Tensor labels() {
  return at::tensor(at::ArrayRef<uint8_t>(kLabels), at::kByte).to(at::kBool);
}

TEST(KtoLoss, KtoWithItsKlEstimateAndWeights) {
  KtoLossConfig c;
  c.beta = 0.5;
  c.desirable_weight = 1.0;
  c.undesirable_weight = 1.25;
  KtoLossOutput out = kto_loss(c, tensor(kPolicy), tensor(kReference), tensor(kPolicyKl),
                               tensor(kReferenceKl), labels());
  double kl = 0;
  for (size_t i = 0; i < 4; ++i) kl += (kPolicyKl[i] - kReferenceKl[i]) / 4.0;
  kl = std::max(kl, 0.0);
  EXPECT_NEAR(out.kl.item<double>(), kl, 1e-12);
  double total = 0;
  for (size_t i = 0; i < 4; ++i) {
    double lr = kPolicy[i] - kReference[i];
    double term = kLabels[i] ? 1.0 * (1 - sig(0.5 * (lr - kl))) : 1.25 * (1 - sig(0.5 * (kl - lr)));
    EXPECT_NEAR(out.per_example_loss[static_cast<int64_t>(i)].item<double>(), term, 1e-12);
    EXPECT_NEAR(out.rewards[static_cast<int64_t>(i)].item<double>(), 0.5 * lr, 1e-12);
    total += term / 4.0;
  }
  EXPECT_NEAR(out.loss.item<double>(), total, 1e-12);
}

TEST(KtoLoss, TheKlEstimateIsClampedAtZeroAndCarriesNoGradient) {
  KtoLossConfig c;
  at::Tensor policy_kl = tensor({-40.0, -40.0, -40.0, -40.0}).requires_grad_(true);
  at::Tensor policy = tensor(kPolicy).requires_grad_(true);
  KtoLossOutput out =
      kto_loss(c, policy, tensor(kReference), policy_kl, tensor(kReferenceKl), labels());
  EXPECT_EQ(out.kl.item<double>(), 0.0);  // the mean difference is negative
  out.loss.backward();
  EXPECT_FALSE(policy_kl.grad().defined() && policy_kl.grad().abs().sum().item<double>() != 0);
  EXPECT_TRUE(policy.grad().defined());
}

TEST(KtoLoss, ApoZeroUnpairedHasNoKlTerm) {
  KtoLossConfig c;
  c.loss_type = KtoLossType::kApoZeroUnpaired;
  c.beta = 0.2;
  ASSERT_FALSE(c.uses_kl());
  KtoLossOutput out =
      kto_loss(c, tensor(kPolicy), tensor(kReference), at::Tensor(), at::Tensor(), labels());
  double total = 0;
  for (size_t i = 0; i < 4; ++i) {
    double lr = kPolicy[i] - kReference[i];
    total += (kLabels[i] ? 1 - sig(0.2 * lr) : sig(0.2 * lr)) / 4.0;
  }
  EXPECT_NEAR(out.loss.item<double>(), total, 1e-12);
  EXPECT_EQ(out.kl.item<double>(), 0.0);
}

TEST(KtoLoss, LossTypeNamesAndErrors) {
  EXPECT_EQ(parse_kto_loss_type({"apo_zero_unpaired"}, "loss_type"), KtoLossType::kApoZeroUnpaired);
  try {
    parse_kto_loss_type({"sigmoid"}, "loss_type");
    FAIL() << "sigmoid accepted";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "loss_type: dpo kto takes one loss type, kto or apo_zero_unpaired (TRL's "
              "KTOConfig.loss_type), got [sigmoid]");
  }
  KtoLossConfig c;
  c.undesirable_weight = -1;
  EXPECT_THROW(c.validate(), UserError);
}

UnpairedExample example(TokenIds prompt, TokenIds completion, bool label, int64_t index) {
  return {std::move(prompt), std::move(completion), label, index};
}

TEST(KtoData, KlCompletionsRotateWithinBatchChunksInDatasetOrder) {
  std::vector<UnpairedExample> examples = {
      example({1}, {10}, true, 0), example({2}, {20}, false, 1), example({3}, {30}, true, 2),
      example({4}, {40}, true, 3), example({5}, {50}, false, 4)};
  KtoDataOptions options;
  options.kl_chunk_size = 2;  // chunks [0 1] [2 3] [4]
  KtoExamples out = prepare_kto_examples(examples, options);
  ASSERT_EQ(out.pairs.size(), 5u);
  const std::vector<TokenIds> kl = {{20}, {10}, {40}, {30}, {50}};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(out.pairs[i].prompt_ids, examples[i].prompt_ids);
    EXPECT_EQ(out.pairs[i].chosen_ids, examples[i].completion_ids);
    EXPECT_EQ(out.pairs[i].rejected_ids, kl[i]) << i;
    EXPECT_EQ(out.pairs[i].index, static_cast<int64_t>(i));
  }
  EXPECT_EQ(out.desirable, (std::vector<uint8_t>{1, 0, 1, 1, 0}));
  options.with_kl = false;
  EXPECT_TRUE(prepare_kto_examples(examples, options).pairs[0].rejected_ids.empty());
}

TEST(KtoData, LongPromptsAreDroppedBeforeTheRotationAndSequencesCutAfterIt) {
  std::vector<UnpairedExample> examples = {
      example({1, 1, 1, 1}, {10}, true, 0),         // prompt fills max_length 4: dropped
      example({2}, {20, 21, 22, 23, 24}, true, 1),  // cut to 3 completion tokens
      example({3, 3}, {30}, false, 2)};
  KtoDataOptions options;
  options.max_length = 4;
  options.kl_chunk_size = 8;
  KtoExamples out = prepare_kto_examples(examples, options);
  EXPECT_EQ(out.dropped, 1);
  ASSERT_EQ(out.pairs.size(), 2u);
  EXPECT_EQ(out.pairs[0].chosen_ids, (TokenIds{20, 21, 22}));
  EXPECT_EQ(out.pairs[0].rejected_ids, (TokenIds{30}));  // the KL completion, whole
  // Example 2's KL completion is example 1's whole completion, cut after its own prompt.
  EXPECT_EQ(out.pairs[1].chosen_ids, (TokenIds{30}));
  EXPECT_EQ(out.pairs[1].rejected_ids, (TokenIds{20, 21}));
  EXPECT_EQ(out.truncated, 2);
}

TEST(KtoData, BalanceWarningsAsTrl) {
  std::vector<uint8_t> balanced = {1, 0, 1, 0};
  EXPECT_EQ(kto_balance_warning(balanced, 1.0, 1.0), "");
  std::vector<uint8_t> skewed = {1, 1, 1, 1, 1, 1, 0, 0};  // 6 desirable, 2 undesirable
  EXPECT_EQ(kto_balance_warning(skewed, 1.0, 1.0),
            "KTO: 6 desirable and 2 undesirable training examples, but neither weight is in the "
            "range that balances them (TRL's check, from Eq. (8) of the KTO paper): set EITHER "
            "desirable_weight in [0.33, 0.44] OR undesirable_weight in [2.26, 3] (not both)");
  EXPECT_EQ(kto_balance_warning(skewed, 0.4, 1.0), "");
  std::vector<uint8_t> all_good = {1, 1, 1};
  EXPECT_NE(kto_balance_warning(all_good, 1.0, 1.0)
                .find("KTO: every training example is desirable (label true)"),
            std::string::npos);
}

}  // namespace
}  // namespace dpo
