// CPO (with SimPO and AlphaPO) and ORPO as TRL 1.16's CPOTrainer.cpo_loss and
// ORPOTrainer.odds_ratio_loss compute them; formulas in train/ref_free_losses.h.
// Shape legend: P pairs.
#include "train/ref_free_losses.h"

#include <cmath>

#include "util/error.h"
#include "util/strings.h"

namespace dpo {

namespace {

const std::vector<std::pair<std::string, CpoLossType>>& cpo_loss_names() {
  static const std::vector<std::pair<std::string, CpoLossType>> names = {
      {"sigmoid", CpoLossType::kSigmoid},
      {"hinge", CpoLossType::kHinge},
      {"ipo", CpoLossType::kIpo},
      {"simpo", CpoLossType::kSimpo}};
  return names;
}

// log(1 - exp(x)) for x < 0, stable on both sides of -ln 2.
at::Tensor log1mexp(const at::Tensor& x) {
  constexpr double kLn2 = 0.6931471805599453;
  return at::where(x.lt(-kLn2), at::log1p(-at::exp(x)), at::log(-at::expm1(x)));
}

// CPO's rewards before beta: the log-probs, or AlphaPO's (1 - p^-alpha) / alpha.
at::Tensor cpo_reward(const at::Tensor& logps, double alpha) {
  if (alpha == 0.0) return logps;
  return (1.0 - at::exp(logps).pow(-alpha)) / alpha;
}

RefFreeLossOutput cpo_loss(const RefFreeLossConfig& c, const at::Tensor& chosen,
                           const at::Tensor& rejected, const at::Tensor& nll) {
  const double b = c.beta, ls = c.label_smoothing;
  at::Tensor reward_c = cpo_reward(chosen, c.alpha), reward_r = cpo_reward(rejected, c.alpha);
  at::Tensor x = reward_c - reward_r;  // (P)
  at::Tensor losses;
  switch (c.cpo_loss) {
    case CpoLossType::kSimpo:
      x = x - c.simpo_gamma / b;
      [[fallthrough]];
    case CpoLossType::kSigmoid:
      losses = -(1.0 - ls) * at::log_sigmoid(b * x) - ls * at::log_sigmoid(-b * x);
      break;
    case CpoLossType::kHinge:
      losses = at::relu(1.0 - b * x);
      break;
    case CpoLossType::kIpo:
      losses = (x - 1.0 / (2.0 * b)).pow(2);
      break;
  }
  RefFreeLossOutput out;
  out.loss = losses.mean();
  if (c.needs_nll()) out.loss = out.loss + c.cpo_alpha * nll.to(at::kDouble);
  out.per_pair_loss = losses.detach();
  out.chosen_rewards = (b * reward_c).detach();
  out.rejected_rewards = (b * reward_r).detach();
  out.nll = c.needs_nll() ? nll.detach().to(at::kDouble) : at::zeros({}, chosen.options());
  return out;
}

RefFreeLossOutput orpo_loss(const RefFreeLossConfig& c, const at::Tensor& chosen,
                            const at::Tensor& rejected, const at::Tensor& nll) {
  at::Tensor log_odds = (chosen - rejected) - (log1mexp(chosen) - log1mexp(rejected));  // (P)
  at::Tensor ratio = at::log_sigmoid(log_odds);                                         // (P)
  at::Tensor losses = c.beta * ratio;
  RefFreeLossOutput out;
  out.loss = nll.to(at::kDouble) - losses.mean();
  out.per_pair_loss = (-losses).detach();
  out.chosen_rewards = (c.beta * chosen).detach();
  out.rejected_rewards = (c.beta * rejected).detach();
  out.nll = nll.detach().to(at::kDouble);
  out.log_odds_ratio = ratio.detach().mean();
  out.log_odds_chosen = log_odds.detach().mean();
  return out;
}

}  // namespace

CpoLossType parse_cpo_loss_type(const std::vector<std::string>& names, const std::string& key) {
  std::vector<std::string> valid;
  for (const auto& [name, type] : cpo_loss_names()) valid.push_back(name);
  if (names.size() != 1)
    throw_user_error(
        "{}: dpo cpo takes one loss type (TRL's CPOConfig.loss_type: {}), got [{}]; several "
        "summed losses are a dpo train feature",
        key, join(valid, ", "), join(names, ", "));
  for (const auto& [name, type] : cpo_loss_names())
    if (name == names[0]) return type;
  throw_user_error("{}: '{}' is not a CPO loss type (one of: {}){}", key, names[0],
                   join(valid, ", "),
                   names[0] == "sft" ? "; CPO's NLL term is cpo_alpha"
                                     : "; the DPO family's other losses are dpo train's");
}

std::string cpo_loss_type_name(CpoLossType type) {
  for (const auto& [name, t] : cpo_loss_names())
    if (t == type) return name;
  return "?";
}

bool RefFreeLossConfig::averages_log_probs() const {
  return method == RefFreeMethod::kOrpo || cpo_loss == CpoLossType::kIpo ||
         cpo_loss == CpoLossType::kSimpo;
}

void RefFreeLossConfig::validate() const {
  if (!(beta > 0)) throw_user_error("beta: must be > 0, got {}", beta);
  if (!(label_smoothing >= 0 && label_smoothing < 0.5))
    throw_user_error("label_smoothing: must be in [0, 0.5), got {}", label_smoothing);
  if (!(simpo_gamma >= 0)) throw_user_error("simpo_gamma: must be >= 0, got {}", simpo_gamma);
}

RefFreeLossOutput ref_free_loss(const RefFreeLossConfig& config, const at::Tensor& chosen,
                                const at::Tensor& rejected, const at::Tensor& nll) {
  DPO_CHECK(!config.needs_nll() || nll.defined(), "ref_free_loss: the NLL term is missing");
  at::Tensor c = chosen.to(at::kDouble), r = rejected.to(at::kDouble);
  return config.method == RefFreeMethod::kOrpo ? orpo_loss(config, c, r, nll)
                                               : cpo_loss(config, c, r, nll);
}

}  // namespace dpo
