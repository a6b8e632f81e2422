// Every preference loss against its formula evaluated independently in plain double arithmetic,
// on hand-picked log-probs: ordinary values, ties, huge margins, label_smoothing limits.
#include "train/losses.h"

#include <gtest/gtest.h>

#include <algorithm>
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
double sig(double x) {
  return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
}

struct Case {
  Vec pc, pr, rc, rr, nc, nr;
};

Case ordinary() {
  return {{-10.0, -20.0, -5.0, -7.5},
          {-12.0, -18.0, -5.5, -30.0},
          {-11.0, -19.0, -5.0, -8.0},
          {-11.5, -19.0, -5.0, -29.0},
          {3, 5, 2, 4},
          {4, 2, 2, 6}};
}
Case ties() {  // policy == reference: every log-ratio and margin is 0
  return {{-3.0, -4.0}, {-6.0, -4.0}, {-3.0, -4.0}, {-6.0, -4.0}, {1, 2}, {2, 2}};
}
Case huge() {  // margins of +-1e4 nats (beta * d = +-1e3)
  return {{-1.0, -20001.0}, {-20001.0, -1.0}, {-5.0, -10.0}, {-10.0, -5.0}, {1, 3}, {3, 1}};
}

at::Tensor tensor(const Vec& v) {
  return at::tensor(v, at::dtype(at::kDouble));
}

PreferenceLogps to_logps(const Case& c, bool grad = false) {
  PreferenceLogps l;
  l.chosen_logps = tensor(c.pc).requires_grad_(grad);
  l.rejected_logps = tensor(c.pr).requires_grad_(grad);
  l.ref_chosen_logps = tensor(c.rc);
  l.ref_rejected_logps = tensor(c.rr);
  l.chosen_tokens = tensor(c.nc);
  l.rejected_tokens = tensor(c.nr);
  return l;
}

double mean(const Vec& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// The per-pair formula of each loss type, written from the papers / TRL's docs.
using PairFormula = std::function<double(size_t i, const Case& c, double b, double ls)>;

double cl(const Case& c, size_t i) {
  return c.pc[i] - c.rc[i];
}
double rl(const Case& c, size_t i) {
  return c.pr[i] - c.rr[i];
}
double margin(const Case& c, size_t i) {
  return cl(c, i) - rl(c, i);
}

double expected_loss(LossType type, const Case& c, double b, double ls, double tau = 0.05) {
  const size_t n = c.pc.size();
  Vec out(n);
  if (type == LossType::kAot || type == LossType::kAotUnpaired) {
    Vec x(n), y(n);
    for (size_t i = 0; i < n; ++i) {
      x[i] = type == LossType::kAot ? c.pc[i] - c.pr[i] : cl(c, i);
      y[i] = type == LossType::kAot ? c.rc[i] - c.rr[i] : rl(c, i);
    }
    std::sort(x.begin(), x.end());
    std::sort(y.begin(), y.end());
    for (size_t i = 0; i < n; ++i)
      out[i] = -(1 - ls) * lsig(b * (x[i] - y[i])) - ls * lsig(-b * (x[i] - y[i]));
    return mean(out);
  }
  for (size_t i = 0; i < n; ++i) {
    double d = margin(c, i), x = b * d;
    double nc = std::max(1.0, c.nc[i]), nr = std::max(1.0, c.nr[i]);
    switch (type) {
      case LossType::kSigmoid:  // TRL 1.16: label_smoothing does not enter
        out[i] = -lsig(x);
        break;
      case LossType::kHinge:
        out[i] = std::max(0.0, 1 - x);
        break;
      case LossType::kIpo:
        out[i] = std::pow(cl(c, i) / nc - rl(c, i) / nr - 1 / (2 * b), 2);
        break;
      case LossType::kExoPair:
        out[i] = sig(x) * (lsig(x) - std::log(1 - ls)) + sig(-x) * (lsig(-x) - std::log(ls));
        break;
      case LossType::kNcaPair:
        out[i] = -lsig(b * cl(c, i)) - 0.5 * lsig(-b * cl(c, i)) - 0.5 * lsig(-b * rl(c, i));
        break;
      case LossType::kRobust:
        out[i] = (-(1 - ls) * lsig(x) + ls * lsig(-x)) / (1 - 2 * ls);
        break;
      case LossType::kBcoPair:
        out[i] = -lsig(b * cl(c, i)) - lsig(-b * rl(c, i));
        break;
      case LossType::kSppoHard:
        out[i] = std::pow(cl(c, i) - 0.5 / b, 2) + std::pow(rl(c, i) + 0.5 / b, 2);
        break;
      case LossType::kApoZero:
        out[i] = 1 - sig(b * cl(c, i)) + sig(b * rl(c, i));
        break;
      case LossType::kApoDown:
        out[i] = sig(b * cl(c, i)) + 1 - sig(x);
        break;
      case LossType::kDiscopop: {
        double m = sig(x / tau);
        // m * exp(-x) with m == 0 contributing 0 (the limit) rather than 0 * inf.
        double e = m == 0.0 ? 0.0 : m * std::exp(-x);
        out[i] = (1 - m) * -lsig(x) + e;
        break;
      }
      case LossType::kSigmoidNorm:
        out[i] = -lsig(b * (cl(c, i) / nc - rl(c, i) / nr));
        break;
      default:
        ADD_FAILURE() << "no formula";
    }
  }
  return mean(out);
}

const std::vector<LossType> kPairTypes = {
    LossType::kSigmoid,  LossType::kHinge,       LossType::kIpo,     LossType::kExoPair,
    LossType::kNcaPair,  LossType::kRobust,      LossType::kBcoPair, LossType::kSppoHard,
    LossType::kAot,      LossType::kAotUnpaired, LossType::kApoZero, LossType::kApoDown,
    LossType::kDiscopop, LossType::kSigmoidNorm};

double run_loss(LossType type, const Case& c, double beta, double ls) {
  LossConfig config;
  config.beta = beta;
  config.loss_types = {type};
  config.label_smoothing = ls;
  config.validate();
  LossOutput out = preference_loss(config, to_logps(c));
  return out.loss.item<double>();
}

void expect_close(double actual, double expected, const std::string& what) {
  ASSERT_TRUE(std::isfinite(actual)) << what;
  EXPECT_NEAR(actual, expected, 1e-12 * std::max(1.0, std::abs(expected))) << what;
}

TEST(Losses, EveryTypeMatchesItsFormula) {
  for (LossType type : kPairTypes) {
    double ls = type == LossType::kExoPair ? 1e-3 : (type == LossType::kRobust ? 0.2 : 0.0);
    for (const auto& [name, c] : std::vector<std::pair<std::string, Case>>{
             {"ordinary", ordinary()}, {"ties", ties()}, {"huge", huge()}}) {
      for (double beta : {0.1, 0.5}) {
        std::string what = loss_type_name(type) + " " + name + " beta " + std::to_string(beta);
        expect_close(run_loss(type, c, beta, ls), expected_loss(type, c, beta, ls), what);
      }
    }
  }
}

TEST(Losses, TiesGiveTheTextbookValues) {
  Case c = ties();
  EXPECT_NEAR(run_loss(LossType::kSigmoid, c, 0.1, 0), std::log(2.0), 1e-15);
  EXPECT_NEAR(run_loss(LossType::kHinge, c, 0.1, 0), 1.0, 1e-15);
  EXPECT_NEAR(run_loss(LossType::kApoZero, c, 0.1, 0), 1.0, 1e-15);
  EXPECT_NEAR(run_loss(LossType::kSppoHard, c, 0.1, 0), 2 * 25.0, 1e-12);
  EXPECT_NEAR(run_loss(LossType::kIpo, c, 0.1, 0), 25.0, 1e-12);
}

TEST(Losses, LabelSmoothingLimits) {
  Case c = ordinary();
  // TRL 1.16's sigmoid ignores label_smoothing (it dropped cDPO; robust is the label-noise loss).
  expect_close(run_loss(LossType::kSigmoid, c, 0.1, 0.3), run_loss(LossType::kSigmoid, c, 0.1, 0.0),
               "sigmoid ignores ls");
  // robust with ls = 0 is plain sigmoid; near 0.5 it stays finite.
  expect_close(run_loss(LossType::kRobust, c, 0.1, 0.0), run_loss(LossType::kSigmoid, c, 0.1, 0.0),
               "robust ls=0");
  expect_close(run_loss(LossType::kRobust, c, 0.1, 0.49),
               expected_loss(LossType::kRobust, c, 0.1, 0.49), "robust ls=0.49");
  // aot with ls limits.
  expect_close(run_loss(LossType::kAot, c, 0.1, 1.0), expected_loss(LossType::kAot, c, 0.1, 1.0),
               "aot ls=1");
  // exo at a tiny epsilon.
  expect_close(run_loss(LossType::kExoPair, c, 0.1, 1e-9),
               expected_loss(LossType::kExoPair, c, 0.1, 1e-9), "exo eps=1e-9");
}

TEST(Losses, GradientsMatchFiniteDifferencesAndStayFinite) {
  for (LossType type : kPairTypes) {
    double ls = type == LossType::kExoPair ? 1e-3 : (type == LossType::kRobust ? 0.2 : 0.1);
    LossConfig config;
    config.loss_types = {type};
    config.label_smoothing = ls;
    for (const Case& c : {ordinary(), huge()}) {
      PreferenceLogps l = to_logps(c, true);
      preference_loss(config, l).loss.backward();
      at::Tensor grad = l.chosen_logps.grad();
      ASSERT_TRUE(grad.isfinite().all().item<bool>()) << loss_type_name(type);
      ASSERT_TRUE(l.rejected_logps.grad().isfinite().all().item<bool>()) << loss_type_name(type);
    }
    Case c = ordinary();
    PreferenceLogps l = to_logps(c, true);
    preference_loss(config, l).loss.backward();
    for (size_t i = 0; i < c.pc.size(); ++i) {
      const double h = 1e-6;
      Case up = c, down = c;
      up.pc[i] += h;
      down.pc[i] -= h;
      double numeric =
          (expected_loss(type, up, 0.1, ls) - expected_loss(type, down, 0.1, ls)) / (2 * h);
      EXPECT_NEAR(l.chosen_logps.grad()[i].item<double>(), numeric, 1e-6)
          << loss_type_name(type) << " " << i;
    }
  }
}

TEST(Losses, RewardsAndPerPairLoss) {
  Case c = ordinary();
  LossConfig config;
  LossOutput out = preference_loss(config, to_logps(c));
  for (size_t i = 0; i < c.pc.size(); ++i) {
    EXPECT_NEAR(out.chosen_rewards[i].item<double>(), 0.1 * cl(c, i), 1e-14);
    EXPECT_NEAR(out.rejected_rewards[i].item<double>(), 0.1 * rl(c, i), 1e-14);
    EXPECT_NEAR(out.per_pair_loss[i].item<double>(), -lsig(0.1 * margin(c, i)), 1e-14);
  }
  EXPECT_NEAR(out.per_pair_loss.mean().item<double>(), out.loss.item<double>(), 1e-15);
}

TEST(Losses, WeightedCombinationAndRpo) {
  Case c = ordinary();
  LossConfig config;
  config.loss_types = {LossType::kSigmoid, LossType::kHinge, LossType::kSft};
  config.loss_weights = {0.8, 0.2, 1.0};
  config.rpo_alpha = 0.5;
  config.validate();
  PreferenceLogps l = to_logps(c);
  LossOutput out = preference_loss(config, l);
  double nll = 0, tokens = 0;
  for (size_t i = 0; i < c.pc.size(); ++i) nll -= c.pc[i], tokens += c.nc[i];
  nll /= tokens;
  double expected = 0.8 * expected_loss(LossType::kSigmoid, c, 0.1, 0) +
                    0.2 * expected_loss(LossType::kHinge, c, 0.1, 0) + 1.0 * nll + 0.5 * nll;
  expect_close(out.loss.item<double>(), expected, "mpo + rpo");
  expect_close(out.nll.item<double>(), nll, "nll");
  ASSERT_EQ(out.per_type_loss.size(), 3u);
  expect_close(out.per_type_loss[2].item<double>(), nll, "sft term");
}

TEST(Losses, ReferenceFreeIgnoresTheReferenceInTheLossOnly) {
  Case c = ordinary();
  LossConfig config;
  config.reference_free = true;
  LossOutput out = preference_loss(config, to_logps(c));
  Vec per(c.pc.size());
  for (size_t i = 0; i < c.pc.size(); ++i) per[i] = -lsig(0.1 * (c.pc[i] - c.pr[i]));
  expect_close(out.loss.item<double>(), mean(per), "reference_free loss");
  EXPECT_NEAR(out.chosen_rewards[0].item<double>(), 0.1 * cl(c, 0), 1e-14);
}

TEST(Losses, WpoWeighting) {
  Case c = ordinary();
  LossConfig config;
  config.use_weighting = true;
  PreferenceLogps l = to_logps(c);
  Vec wc = {-1.5, -6.0, -0.4, -2.0}, wr = {-8.0, -1.0, -0.2, -3.0};
  l.chosen_wpo_logps = tensor(wc);
  l.rejected_wpo_logps = tensor(wr);
  LossOutput out = preference_loss(config, l);
  Vec per(c.pc.size());
  for (size_t i = 0; i < c.pc.size(); ++i)
    per[i] = -lsig(0.1 * margin(c, i)) * std::exp(wc[i] / c.nc[i]) * std::exp(wr[i] / c.nr[i]);
  expect_close(out.loss.item<double>(), mean(per), "wpo");
}

TEST(Losses, FDivergences) {
  Case c = ordinary();
  for (auto [type, f] : std::vector<std::pair<FDivergence, std::function<double(double)>>>{
           // TRL 1.16's scores f'(t) at t = pi/ref, with their constants (they cancel in sigmoid's
           // difference, not in ipo's per-token averages)
           {FDivergence::kForwardKl, [](double x) { return 1 - std::exp(-x); }},
           {FDivergence::kJsDivergence, [](double x) { return std::log(2.0) + lsig(x); }},
           {FDivergence::kAlphaDivergence,
            [](double x) { return (std::exp(-0.5 * x) - 1) / -0.5; }}}) {
    LossConfig config;
    config.f_divergence_type = type;
    LossOutput out = preference_loss(config, to_logps(c));
    Vec per(c.pc.size());
    for (size_t i = 0; i < c.pc.size(); ++i) per[i] = -lsig(0.1 * (f(cl(c, i)) - f(rl(c, i))));
    expect_close(out.loss.item<double>(), mean(per), "f-divergence");
    config.loss_types = {LossType::kIpo};
    out = preference_loss(config, to_logps(c));
    for (size_t i = 0; i < c.pc.size(); ++i)
      per[i] = std::pow(f(cl(c, i)) / c.nc[i] - f(rl(c, i)) / c.nr[i] - 1 / (2 * 0.1), 2);
    expect_close(out.loss.item<double>(), mean(per), "f-divergence ipo");
    // loss types without an f-divergence form are refused, as TRL 1.16 does
    config.loss_types = {LossType::kNcaPair};
    EXPECT_THROW(config.validate(), UserError);
  }
}

TEST(Losses, BcoRunningMeanAsTrlBefore1) {
  Case c = ordinary();
  LossConfig config;
  config.loss_types = {LossType::kBcoPair};
  config.bco_running_mean = true;
  RunningMoments state;
  LossOutput first = preference_loss(config, to_logps(c), &state);
  // One update with the batch's mean reward: the running mean becomes that mean.
  double reward_mean = 0;
  for (size_t i = 0; i < c.pc.size(); ++i) reward_mean += 0.1 * (cl(c, i) + rl(c, i));
  reward_mean /= 2.0 * static_cast<double>(c.pc.size());
  EXPECT_NEAR(state.mean, reward_mean, 1e-12);
  Vec per(c.pc.size());
  for (size_t i = 0; i < c.pc.size(); ++i)
    per[i] = -lsig(0.1 * cl(c, i) - reward_mean) - lsig(-(0.1 * rl(c, i) - reward_mean));
  expect_close(first.loss.item<double>(), mean(per), "bco running mean");
  // A second batch with mean reward 0 halves the running mean.
  preference_loss(config, to_logps(ties()), &state);
  EXPECT_NEAR(state.mean, reward_mean / 2, 1e-12);
}

TEST(Losses, ValidationMessages) {
  LossConfig config;
  config.loss_types = {LossType::kExoPair};
  EXPECT_THROW(
      {
        try {
          config.validate();
        } catch (const UserError& e) {
          EXPECT_NE(std::string(e.what()).find("label_smoothing > 0"), std::string::npos)
              << e.what();
          throw;
        }
      },
      UserError);
  config = LossConfig();
  config.loss_weights = {1.0, 2.0};
  EXPECT_THROW(config.validate(), UserError);
  config = LossConfig();
  config.loss_types = {LossType::kAot};
  config.use_weighting = true;
  EXPECT_THROW(config.validate(), UserError);
  config = LossConfig();
  config.loss_types = {LossType::kRobust};
  config.label_smoothing = 0.5;
  EXPECT_THROW(config.validate(), UserError);
  config = LossConfig();
  config.beta = 0;
  EXPECT_THROW(config.validate(), UserError);
  try {
    parse_loss_type("sigmod");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'sigmoid'"), std::string::npos) << e.what();
  }
  for (const std::string& name : loss_type_names())
    EXPECT_EQ(loss_type_name(parse_loss_type(name)), name);
  EXPECT_THROW(parse_f_divergence("kl"), UserError);
}

}  // namespace
}  // namespace dpo
