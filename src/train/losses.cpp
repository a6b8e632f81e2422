// The preference losses of TRL's DPOTrainer; the formula table is in losses.h.
// Shape legend: P pairs. Everything here is (P) or a scalar, computed in float64.
#include "train/losses.h"

#include <fmt/format.h>

#include <cmath>
#include <utility>

#include "util/error.h"
#include "util/strings.h"

namespace dpo {

namespace {

const std::vector<std::pair<LossType, std::string>>& loss_table() {
  static const std::vector<std::pair<LossType, std::string>> table = {
      {LossType::kSigmoid, "sigmoid"},
      {LossType::kHinge, "hinge"},
      {LossType::kIpo, "ipo"},
      {LossType::kExoPair, "exo_pair"},
      {LossType::kNcaPair, "nca_pair"},
      {LossType::kRobust, "robust"},
      {LossType::kBcoPair, "bco_pair"},
      {LossType::kSppoHard, "sppo_hard"},
      {LossType::kAot, "aot"},
      {LossType::kAotUnpaired, "aot_unpaired"},
      {LossType::kApoZero, "apo_zero"},
      {LossType::kApoDown, "apo_down"},
      {LossType::kDiscopop, "discopop"},
      {LossType::kSft, "sft"},
      {LossType::kSigmoidNorm, "sigmoid_norm"},
  };
  return table;
}

at::Tensor to_f64(const at::Tensor& t) {
  return t.to(at::kDouble);
}

// -(1-ls) lsig(x) - ls lsig(-x): the label-smoothed logistic loss (aot, aot_unpaired).
at::Tensor smoothed_logistic(const at::Tensor& x, double ls) {
  at::Tensor loss = -at::log_sigmoid(x) * (1.0 - ls);
  if (ls != 0.0) loss = loss - at::log_sigmoid(-x) * ls;
  return loss;
}

// The scores of the f-divergence regularizer, applied to log-ratios.
at::Tensor f_scores(const LossConfig& config, const at::Tensor& logratios) {
  switch (config.f_divergence_type) {
    case FDivergence::kReverseKl:
      return logratios;
    case FDivergence::kForwardKl:  // f'(t) = 1 - 1/t
      return 1.0 - at::exp(-logratios);
    case FDivergence::kJsDivergence:  // f'(t) = log(2t / (t + 1)) = log 2 + logsigmoid(log t)
      return std::log(2.0) + at::log_sigmoid(logratios);
    case FDivergence::kAlphaDivergence: {  // f'(t) = (t^(a-1) - 1) / (a - 1)
      double a = config.f_alpha_divergence_coef;
      if (std::abs(a - 1.0) < 1e-6) return logratios;  // the limit: reverse KL
      return (at::exp(at::clamp_max((a - 1.0) * logratios, 80.0)) - 1.0) / (a - 1.0);
    }
  }
  throw_internal_error("unknown f-divergence");
}

// Everything one loss type may read, in float64.
struct LossInputs {
  at::Tensor pc, pr, rc, rr;  // policy / reference log-probs (reference 0 when reference_free)
  at::Tensor cl, rl;          // log-ratios
  at::Tensor sc, sr, d;       // scores and delta score
  at::Tensor nc, nr;          // token counts, clamped to >= 1
  at::Tensor nll;             // () mean chosen NLL (sft / rpo)
};

at::Tensor pair_loss(LossType type, const LossConfig& c, const LossInputs& in,
                     RunningMoments* bco_state) {
  const double b = c.beta;
  const double ls = c.label_smoothing;
  switch (type) {
    case LossType::kSigmoid:  // TRL 1.16: label_smoothing does not enter (robust, exo_pair do)
      return -at::log_sigmoid(b * in.d);
    case LossType::kHinge:
      return at::relu(1.0 - b * in.d);
    case LossType::kIpo: {
      at::Tensor delta = in.sc / in.nc - in.sr / in.nr;
      return at::pow(delta - 1.0 / (2.0 * b), 2);
    }
    case LossType::kExoPair: {
      at::Tensor x = b * in.d;
      return at::sigmoid(x) * (at::log_sigmoid(x) - std::log1p(-ls)) +
             at::sigmoid(-x) * (at::log_sigmoid(-x) - std::log(ls));
    }
    case LossType::kNcaPair: {  // on the log-ratios (no f-divergence form)
      at::Tensor chosen = b * in.cl;
      at::Tensor rejected = b * in.rl;
      return -at::log_sigmoid(chosen) - 0.5 * at::log_sigmoid(-chosen) -
             0.5 * at::log_sigmoid(-rejected);
    }
    case LossType::kRobust: {
      at::Tensor x = b * in.d;
      return (-(1.0 - ls) * at::log_sigmoid(x) + ls * at::log_sigmoid(-x)) / (1.0 - 2.0 * ls);
    }
    case LossType::kBcoPair: {  // on the log-ratios (no f-divergence form)
      at::Tensor chosen = b * in.cl;
      at::Tensor rejected = b * in.rl;
      double m = 0.0;
      if (c.bco_running_mean) {
        DPO_CHECK(bco_state != nullptr,
                  "bco_pair with bco_running_mean needs a RunningMoments state");
        bco_state->update(at::cat({b * in.cl, b * in.rl}).detach().mean());
        m = bco_state->mean;
      }
      return -at::log_sigmoid(chosen - m) - at::log_sigmoid(-(rejected - m));
    }
    case LossType::kSppoHard:  // on the log-ratios (no f-divergence form)
      return at::pow(in.cl - 0.5 / b, 2) + at::pow(in.rl + 0.5 / b, 2);
    case LossType::kAot: {
      at::Tensor x =
          std::get<0>(at::sort(in.pc - in.pr, 0)) - std::get<0>(at::sort(in.rc - in.rr, 0));
      return smoothed_logistic(b * x, ls);
    }
    case LossType::kAotUnpaired: {
      at::Tensor x = std::get<0>(at::sort(in.cl, 0)) - std::get<0>(at::sort(in.rl, 0));
      return smoothed_logistic(b * x, ls);
    }
    case LossType::kApoZero:
      return 1.0 - at::sigmoid(b * in.cl) + at::sigmoid(b * in.rl);
    case LossType::kApoDown:
      return at::sigmoid(b * in.cl) + 1.0 - at::sigmoid(b * in.d);
    case LossType::kDiscopop: {
      at::Tensor x = b * in.d;
      at::Tensor modulation = at::sigmoid(x / c.discopop_tau);
      at::Tensor logistic = -at::log_sigmoid(x);
      // modulation * exp(-x), without exp overflow times a zero modulation.
      at::Tensor exponential = at::exp(-x + at::log_sigmoid(x / c.discopop_tau));
      return logistic * (1.0 - modulation) + exponential;
    }
    case LossType::kSft:
      return in.nll.expand({in.pc.size(0)});
    case LossType::kSigmoidNorm:
      return -at::log_sigmoid(b * (in.sc / in.nc - in.sr / in.nr));
  }
  throw_internal_error("unknown loss type");
}

// WPO weights (no gradient): exp(mean chosen aligned log-prob) * exp(mean rejected ...).
at::Tensor wpo_weights(const PreferenceLogps& logps, const LossInputs& in) {
  DPO_CHECK(logps.chosen_wpo_logps.defined() && logps.rejected_wpo_logps.defined(),
            "use_weighting needs the WPO log-probs of the policy pass");
  at::Tensor chosen = at::exp(to_f64(logps.chosen_wpo_logps).detach() / in.nc);
  at::Tensor rejected = at::exp(to_f64(logps.rejected_wpo_logps).detach() / in.nr);
  return chosen * rejected;
}

LossInputs make_inputs(const LossConfig& config, const PreferenceLogps& logps) {
  LossInputs in;
  in.pc = to_f64(logps.chosen_logps);
  in.pr = to_f64(logps.rejected_logps);
  if (config.reference_free || !logps.ref_chosen_logps.defined()) {
    DPO_CHECK(config.reference_free, "reference log-probs are missing");
    in.rc = at::zeros_like(in.pc);
    in.rr = at::zeros_like(in.pr);
  } else {
    in.rc = to_f64(logps.ref_chosen_logps).detach();
    in.rr = to_f64(logps.ref_rejected_logps).detach();
  }
  in.cl = in.pc - in.rc;
  in.rl = in.pr - in.rr;
  in.sc = f_scores(config, in.cl);
  in.sr = f_scores(config, in.rl);
  in.d = in.sc - in.sr;
  in.nc = at::clamp_min(to_f64(logps.chosen_tokens), 1.0);
  in.nr = at::clamp_min(to_f64(logps.rejected_tokens), 1.0);
  if (config.needs_nll()) {
    at::Tensor plain =
        logps.chosen_logps_plain.defined() ? logps.chosen_logps_plain : logps.chosen_logps;
    at::Tensor total = to_f64(logps.chosen_tokens).sum();
    in.nll = -to_f64(plain).sum() / at::clamp_min(total, 1.0);
  }
  return in;
}

}  // namespace

LossType parse_loss_type(const std::string& name) {
  for (const auto& [type, known] : loss_table())
    if (known == name) return type;
  std::string hint = closest_match(name, loss_type_names());
  std::string other;  // another command's loss type
  if (name == "simpo") other = " (simpo is a CPO loss type: run dpo cpo with loss_type simpo)";
  if (name == "kto" || name == "apo_zero_unpaired")
    other = fmt::format(" ({} is a KTO loss type, for unpaired data: run dpo kto)", name);
  throw_user_error("unknown loss_type '{}'{}; expected one of: {}", name,
                   !other.empty() ? other
                   : hint.empty() ? ""
                                  : " (did you mean '" + hint + "'?)",
                   join(loss_type_names(), ", "));
}

std::vector<LossType> parse_loss_types(const std::vector<std::string>& names) {
  std::vector<LossType> types;
  for (const auto& name : names) types.push_back(parse_loss_type(name));
  return types;
}

std::string loss_type_name(LossType type) {
  for (const auto& [known_type, name] : loss_table())
    if (known_type == type) return name;
  throw_internal_error("unknown loss type");
}

std::vector<std::string> loss_type_names() {
  std::vector<std::string> names;
  for (const auto& entry : loss_table()) names.push_back(entry.second);
  return names;
}

FDivergence parse_f_divergence(const std::string& name) {
  if (name == "reverse_kl") return FDivergence::kReverseKl;
  if (name == "forward_kl") return FDivergence::kForwardKl;
  if (name == "js_divergence") return FDivergence::kJsDivergence;
  if (name == "alpha_divergence") return FDivergence::kAlphaDivergence;
  throw_user_error(
      "unknown f_divergence_type '{}'; expected one of: reverse_kl, forward_kl, js_divergence, "
      "alpha_divergence",
      name);
}

std::string f_divergence_name(FDivergence type) {
  switch (type) {
    case FDivergence::kReverseKl:
      return "reverse_kl";
    case FDivergence::kForwardKl:
      return "forward_kl";
    case FDivergence::kJsDivergence:
      return "js_divergence";
    case FDivergence::kAlphaDivergence:
      return "alpha_divergence";
  }
  throw_internal_error("unknown f-divergence");
}

bool LossConfig::needs_nll() const {
  if (rpo_alpha.has_value()) return true;
  for (LossType type : loss_types)
    if (type == LossType::kSft) return true;
  return false;
}

namespace {

// The loss types TRL 1.16 computes from f-divergence scores (the others need log-ratios).
bool has_f_divergence_form(LossType type) {
  switch (type) {
    case LossType::kSigmoid:
    case LossType::kSigmoidNorm:
    case LossType::kHinge:
    case LossType::kIpo:
    case LossType::kExoPair:
    case LossType::kRobust:
    case LossType::kDiscopop:
    case LossType::kSft:
      return true;
    default:
      return false;
  }
}

}  // namespace

void LossConfig::validate() const {
  if (loss_types.empty()) throw_user_error("loss_type: at least one loss type is needed");
  if (!loss_weights.empty() && loss_weights.size() != loss_types.size())
    throw_user_error(
        "loss_weights has {} values but loss_type has {}; give one weight per loss type",
        loss_weights.size(), loss_types.size());
  if (!(beta > 0.0)) throw_user_error("beta must be > 0 (got {})", beta);
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    throw_user_error("label_smoothing must lie in [0, 1] (got {})", label_smoothing);
  if (!(discopop_tau > 0.0)) throw_user_error("discopop_tau must be > 0 (got {})", discopop_tau);
  if (ld_alpha && !(*ld_alpha >= 0.0 && *ld_alpha <= 1.0))
    throw_user_error("ld_alpha must lie in [0, 1] (got {})", *ld_alpha);
  for (LossType type : loss_types) {
    if (type == LossType::kExoPair && label_smoothing == 0.0)
      throw_user_error(
          "loss_type exo_pair needs label_smoothing > 0 (the EXO paper recommends 1e-3)");
    if (type == LossType::kRobust && label_smoothing >= 0.5)
      throw_user_error("loss_type robust needs label_smoothing in [0, 0.5) (got {})",
                       label_smoothing);
    if (f_divergence_type != FDivergence::kReverseKl && !has_f_divergence_form(type))
      throw_user_error(
          "f_divergence_type {} works with loss_type sigmoid, sigmoid_norm, hinge, ipo, exo_pair, "
          "robust, discopop and sft only (the f-DPO reparameterization cancels only in the "
          "chosen - rejected difference), not {}; use f_divergence_type reverse_kl with it",
          f_divergence_name(f_divergence_type), loss_type_name(type));
    if (use_weighting && (type == LossType::kAot || type == LossType::kAotUnpaired))
      throw_user_error(
          "use_weighting (WPO) does not work with loss_type {}: it sorts pairs, which would "
          "misalign "
          "the per-pair weights",
          loss_type_name(type));
  }
}

void RunningMoments::update(const at::Tensor& values) {
  at::Tensor flat = values.detach().to(at::kDouble).reshape({-1});
  double n = static_cast<double>(flat.numel());
  double batch_mean = flat.mean().item<double>();
  double batch_var = ((flat - batch_mean) * (flat - batch_mean)).mean().item<double>();
  double delta = batch_mean - mean;
  double total = count + n;
  double old_sum = var * count + delta * delta * count * n / total;
  double total_sum = old_sum + batch_var * n;
  mean += delta * n / total;
  double new_var = total_sum / total;
  std = std::sqrt(new_var * total / (total - 1.0));
  var = new_var;
  count = total;
}

LossOutput preference_loss(const LossConfig& config, const PreferenceLogps& logps,
                           RunningMoments* bco_state) {
  LossInputs in = make_inputs(config, logps);
  at::Tensor weights;  // (P) WPO weights, or undefined
  if (config.use_weighting) weights = wpo_weights(logps, in);

  LossOutput out;
  at::Tensor loss = at::zeros({}, in.pc.options());
  at::Tensor per_pair = at::zeros_like(in.pc).detach();
  for (size_t k = 0; k < config.loss_types.size(); ++k) {
    double weight = config.loss_weights.empty() ? 1.0 : config.loss_weights[k];
    at::Tensor term = pair_loss(config.loss_types[k], config, in, bco_state);  // (P)
    if (weights.defined()) term = term * weights;
    loss = loss + term.mean() * weight;
    per_pair = per_pair + term.detach() * weight;
    out.per_type_loss.push_back(term.detach().mean());
  }
  if (config.rpo_alpha) {
    loss = loss + *config.rpo_alpha * in.nll;
    per_pair = per_pair + *config.rpo_alpha * in.nll.detach();
  }
  out.loss = loss;
  out.per_pair_loss = per_pair;
  // Rewards always use the actual reference (zeros only when none was computed).
  at::Tensor rc =
      logps.ref_chosen_logps.defined() ? to_f64(logps.ref_chosen_logps) : at::zeros_like(in.pc);
  at::Tensor rr =
      logps.ref_rejected_logps.defined() ? to_f64(logps.ref_rejected_logps) : at::zeros_like(in.pr);
  out.chosen_rewards = (config.beta * (in.pc - rc)).detach();
  out.rejected_rewards = (config.beta * (in.pr - rr)).detach();
  if (in.nll.defined()) out.nll = in.nll.detach();
  return out;
}

}  // namespace dpo
