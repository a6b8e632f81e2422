// CPO (sigmoid, hinge, ipo, simpo, AlphaPO) and ORPO against their formulas (TRL 1.16's
// CPOTrainer.cpo_loss, ORPOTrainer.odds_ratio_loss) evaluated in plain double arithmetic.
#include "train/ref_free_losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "util/error.h"

namespace dpo {
namespace {

using Vec = std::vector<double>;

double lsig(double x) {
  return x < 0 ? x - std::log1p(std::exp(x)) : -std::log1p(std::exp(-x));
}

at::Tensor tensor(const Vec& v) {
  return at::tensor(v, at::dtype(at::kDouble));
}

Vec values(const at::Tensor& t) {
  at::Tensor c = t.to(at::kDouble).contiguous();
  return Vec(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

double mean(const Vec& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Per-token averaged log-probs (ORPO, ipo, simpo: all below 0) and summed ones (sigmoid, hinge).
const Vec kChosen = {-1.25, -0.1, -3.0, -0.6931};
const Vec kRejected = {-1.5, -0.05, -2.0, -0.9};
const Vec kChosenSum = {-10.0, -20.0, -5.0, -7.5};
const Vec kRejectedSum = {-12.0, -18.0, -5.5, -30.0};
constexpr double kNll = 1.75;

RefFreeLossConfig cpo(CpoLossType type, double beta = 0.1) {
  RefFreeLossConfig c;
  c.cpo_loss = type;
  c.beta = beta;
  return c;
}

void expect_all_near(const Vec& got, const Vec& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

// Checks the loss, the per-pair terms and the rewards (beta * reward_fn(logps)).
void check_cpo(
    const RefFreeLossConfig& c, const Vec& pc, const Vec& pr,
    const std::function<double(double)>& term,
    const std::function<double(double)>& reward = [](double x) { return x; }) {
  RefFreeLossOutput out = ref_free_loss(c, tensor(pc), tensor(pr), at::tensor(kNll));
  Vec want_terms, want_chosen, want_rejected;
  for (size_t i = 0; i < pc.size(); ++i) {
    want_terms.push_back(term(reward(pc[i]) - reward(pr[i])));
    want_chosen.push_back(c.beta * reward(pc[i]));
    want_rejected.push_back(c.beta * reward(pr[i]));
  }
  expect_all_near(values(out.per_pair_loss), want_terms);
  expect_all_near(values(out.chosen_rewards), want_chosen);
  expect_all_near(values(out.rejected_rewards), want_rejected);
  EXPECT_NEAR(out.loss.item<double>(), mean(want_terms) + c.cpo_alpha * kNll, 1e-12);
  EXPECT_NEAR(out.nll.item<double>(), c.cpo_alpha == 0 ? 0.0 : kNll, 1e-12);
}

TEST(RefFreeLosses, CpoSigmoidWithAndWithoutLabelSmoothing) {
  RefFreeLossConfig c = cpo(CpoLossType::kSigmoid, 0.2);
  check_cpo(c, kChosenSum, kRejectedSum, [](double x) { return -lsig(0.2 * x); });
  c.label_smoothing = 0.1;
  check_cpo(c, kChosenSum, kRejectedSum,
            [](double x) { return -0.9 * lsig(0.2 * x) - 0.1 * lsig(-0.2 * x); });
}

TEST(RefFreeLosses, CpoHingeAndIpo) {
  check_cpo(cpo(CpoLossType::kHinge, 0.5), kChosenSum, kRejectedSum,
            [](double x) { return std::max(0.0, 1.0 - 0.5 * x); });
  check_cpo(cpo(CpoLossType::kIpo, 0.5), kChosen, kRejected,
            [](double x) { return (x - 1.0) * (x - 1.0); });
}

TEST(RefFreeLosses, SimpoSubtractsTheTargetMarginOverBeta) {
  RefFreeLossConfig c = cpo(CpoLossType::kSimpo, 2.0);
  c.simpo_gamma = 0.5;
  c.cpo_alpha = 0.0;  // SimPO proper: no NLL term
  check_cpo(c, kChosen, kRejected, [](double x) { return -lsig(2.0 * (x - 0.25)); });
  c.cpo_alpha = 1.0;  // CPO-SimPO
  check_cpo(c, kChosen, kRejected, [](double x) { return -lsig(2.0 * (x - 0.25)); });
}

TEST(RefFreeLosses, AlphaPoShapesTheRewards) {
  RefFreeLossConfig c = cpo(CpoLossType::kSimpo, 2.0);
  c.alpha = 0.25;
  c.cpo_alpha = 0.0;
  auto reward = [](double logp) { return (1.0 - std::pow(std::exp(logp), -0.25)) / 0.25; };
  check_cpo(
      c, kChosen, kRejected, [](double x) { return -lsig(2.0 * (x - 0.25)); }, reward);
}

TEST(RefFreeLosses, OrpoOddsRatio) {
  RefFreeLossConfig c;
  c.method = RefFreeMethod::kOrpo;
  c.beta = 0.25;
  RefFreeLossOutput out = ref_free_loss(c, tensor(kChosen), tensor(kRejected), at::tensor(kNll));
  Vec ratios, odds;
  for (size_t i = 0; i < kChosen.size(); ++i) {
    double pc = kChosen[i], pr = kRejected[i];
    double log_odds = (pc - pr) - (std::log(1 - std::exp(pc)) - std::log(1 - std::exp(pr)));
    odds.push_back(log_odds);
    ratios.push_back(lsig(log_odds));
  }
  EXPECT_NEAR(out.loss.item<double>(), kNll - 0.25 * mean(ratios), 1e-12);
  EXPECT_NEAR(out.log_odds_ratio.item<double>(), mean(ratios), 1e-12);
  EXPECT_NEAR(out.log_odds_chosen.item<double>(), mean(odds), 1e-12);
  EXPECT_NEAR(out.nll.item<double>(), kNll, 1e-12);
  expect_all_near(values(out.chosen_rewards), {-0.3125, -0.025, -0.75, -0.173275});
}

TEST(RefFreeLosses, OrpoIsStableNearZeroAndVeryNegativeLogProbs) {
  RefFreeLossConfig c;
  c.method = RefFreeMethod::kOrpo;
  // log(1 - exp(x)) on both sides of -ln 2, and close to 0 where 1 - exp(x) cancels
  RefFreeLossOutput out =
      ref_free_loss(c, tensor({-1e-9, -50.0}), tensor({-40.0, -1e-6}), at::tensor(0.0));
  EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
  double want0 = (-1e-9 + 40.0) - (std::log(1e-9) - std::log1p(-std::exp(-40.0)));
  EXPECT_NEAR(values(out.per_pair_loss)[0] / -0.1, lsig(want0), 1e-9);
}

TEST(RefFreeLosses, GradientsReachThePolicyLogProbsAndTheNll) {
  RefFreeLossConfig c = cpo(CpoLossType::kSigmoid);
  at::Tensor pc = tensor(kChosenSum).requires_grad_(true);
  at::Tensor pr = tensor(kRejectedSum).requires_grad_(true);
  at::Tensor nll = at::tensor(kNll, at::dtype(at::kDouble)).requires_grad_(true);
  ref_free_loss(c, pc, pr, nll).loss.backward();
  EXPECT_NEAR(nll.grad().item<double>(), 1.0, 1e-12);  // cpo_alpha
  for (size_t i = 0; i < kChosenSum.size(); ++i) {
    double x = 0.1 * (kChosenSum[i] - kRejectedSum[i]);
    double d = -0.1 * (1.0 - 1.0 / (1.0 + std::exp(-x))) / 4.0;  // d(-lsig(bx))/dpc / P
    EXPECT_NEAR(pc.grad()[i].item<double>(), d, 1e-12);
    EXPECT_NEAR(pr.grad()[i].item<double>(), -d, 1e-12);
  }
}

TEST(RefFreeLosses, LossTypeNamesAndErrors) {
  EXPECT_EQ(parse_cpo_loss_type({"simpo"}, "loss_type"), CpoLossType::kSimpo);
  EXPECT_EQ(cpo_loss_type_name(CpoLossType::kIpo), "ipo");
  try {
    parse_cpo_loss_type({"robust"}, "loss_type");
    FAIL() << "robust accepted";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "loss_type: 'robust' is not a CPO loss type (one of: sigmoid, hinge, ipo, simpo); "
              "the DPO family's other losses are dpo train's");
  }
  try {
    parse_cpo_loss_type({"sigmoid", "sft"}, "loss_type");
    FAIL() << "two loss types accepted";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "loss_type: dpo cpo takes one loss type (TRL's CPOConfig.loss_type: sigmoid, hinge, "
              "ipo, simpo), got [sigmoid, sft]; several summed losses are a dpo train feature");
  }
  RefFreeLossConfig c;
  c.beta = 0;
  EXPECT_THROW(c.validate(), UserError);
  c = RefFreeLossConfig();
  c.simpo_gamma = -1;
  EXPECT_THROW(c.validate(), UserError);
}

}  // namespace
}  // namespace dpo
