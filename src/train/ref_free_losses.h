// The reference-free preference losses: TRL's CPOTrainer (CPO, and SimPO as its `simpo` loss
// type, trl.experimental.cpo) and ORPOTrainer (trl.experimental.orpo), v1.16. They read the
// policy's log-probs only: no reference pass, no reference model, no cache.
// Shape legend: P pairs.
//
// Notation (per pair i): pc, pr = the policy's log-probs of chosen / rejected over their
// completion tokens, summed (CPO sigmoid, hinge) or averaged per token (CPO ipo, simpo; ORPO);
// b = beta; ls = label_smoothing; lsig = log sigmoid.
//
// CPO   rc, rr = pc, pr; with alpha != 0 (AlphaPO): r = (1 - exp(p)^-alpha) / alpha
//       x = rc - rr                          (simpo: x = rc - rr - simpo_gamma / b)
//       | sigmoid, simpo | -(1-ls) lsig(b x) - ls lsig(-b x) |
//       | hinge          | relu(1 - b x)                      |
//       | ipo            | (x - 1/(2b))^2                     |
//       loss = mean_i loss_i + cpo_alpha * nll;  nll = the mean NLL of the batch's chosen
//       completion tokens (0 when cpo_alpha is 0); rewards b*rc, b*rr (detached).
// ORPO  log_odds = (pc - pr) - (log(1 - exp(pc)) - log(1 - exp(pr)))
//       loss = nll - b * mean_i lsig(log_odds_i);  nll = the mean NLL of every token of the
//       batch's chosen sequences that has a predecessor, prompt included (TRL 1.16);
//       rewards b*pc, b*pr; log_odds_ratio = mean_i lsig(log_odds_i), log_odds_chosen = mean_i
//       log_odds_i.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace dpo {

enum class RefFreeMethod { kCpo, kOrpo };
enum class CpoLossType { kSigmoid, kHinge, kIpo, kSimpo };

// TRL's CPO loss_type names: sigmoid, hinge, ipo, simpo. UserError naming `key` and the valid
// names otherwise (and pointing DPO-only names at `dpo train`).
CpoLossType parse_cpo_loss_type(const std::vector<std::string>& names, const std::string& key);
std::string cpo_loss_type_name(CpoLossType type);

struct RefFreeLossConfig {
  RefFreeMethod method = RefFreeMethod::kCpo;
  CpoLossType cpo_loss = CpoLossType::kSigmoid;  // CPO only
  double beta = 0.1;
  double label_smoothing = 0.0;  // CPO sigmoid, simpo
  double cpo_alpha = 1.0;        // CPO: weight of the NLL term
  double simpo_gamma = 0.5;      // CPO simpo: target reward margin
  double alpha = 0.0;            // CPO: AlphaPO reward shape (0: log-prob rewards)

  // Log-probs averaged per completion token (CPO ipo and simpo, ORPO), else summed.
  bool averages_log_probs() const;
  // The NLL covers every chosen token, prompt included (ORPO), else the completion tokens.
  bool nll_over_whole_sequence() const { return method == RefFreeMethod::kOrpo; }
  bool needs_nll() const { return method == RefFreeMethod::kOrpo || cpo_alpha != 0.0; }
  // UserError for beta <= 0, label_smoothing outside [0, 0.5), simpo_gamma < 0.
  void validate() const;
};

struct RefFreeLossOutput {
  at::Tensor loss;              // () float64, differentiable
  at::Tensor per_pair_loss;     // (P) float64, detached: the preference term of each pair
  at::Tensor chosen_rewards;    // (P) float64, detached
  at::Tensor rejected_rewards;  // (P) float64, detached
  at::Tensor nll;               // () float64, detached (0 when the config needs none)
  at::Tensor log_odds_ratio;    // () ORPO only: mean lsig(log_odds)
  at::Tensor log_odds_chosen;   // () ORPO only: mean log_odds
};

// chosen, rejected (P) float: the policy's log-probs (averaged when config.averages_log_probs());
// nll () float: the NLL term (undefined when !config.needs_nll()). Gradients flow through all.
RefFreeLossOutput ref_free_loss(const RefFreeLossConfig& config, const at::Tensor& chosen,
                                const at::Tensor& rejected, const at::Tensor& nll);

}  // namespace dpo
