// The preference loss family of TRL's DPOTrainer (trl/trainer/dpo_trainer.py, v1.x
// `_compute_loss`), evaluated on per-sequence log-probs. Shape legend: P pairs.
//
// Notation (per pair i): pc, pr = policy log-probs of chosen / rejected (summed over completion
// tokens; with ld_alpha: shared part + ld_alpha * tail, see train/logprobs.h); rc, rr = reference
// log-probs (0 in the loss when reference_free); b = beta; ls = label_smoothing; nc, nr =
// completion token counts (at least 1); lsig = log sigmoid; sig = sigmoid.
//   cl = pc - rc, rl = pr - rr                                  (log-ratios)
//   sc, sr = f(cl), f(rl)   scores by f_divergence_type:
//            reverse_kl: x;  forward_kl: -exp(-x);  js_divergence: lsig(x);
//            alpha_divergence (a): exp(min((a-1)x, 80)) / (a-1)   (a = 1: x)
//   d  = sc - sr                                                 (delta score)
//
// | loss_type    | per-pair loss                                                              |
// |--------------|----------------------------------------------------------------------------|
// | sigmoid      | -(1-ls) lsig(b d) - ls lsig(-b d)         (cDPO; TRL >= 1.0 has ls = 0 here) |
// | hinge        | relu(1 - b d)                                                              |
// | ipo          | (sc/nc - sr/nr - 1/(2b))^2                        (length-normalized IPO)  |
// | exo_pair     | sig(b d)(lsig(b d) - log(1-ls)) + sig(-b d)(lsig(-b d) - log ls)  (ls > 0) |
// | nca_pair     | -lsig(b sc) - 0.5 lsig(-b sc) - 0.5 lsig(-b sr)                            |
// | robust       | (-(1-ls) lsig(b d) + ls lsig(-b d)) / (1 - 2 ls)                           |
// | bco_pair     | -lsig(b sc - m) - lsig(-(b sr - m)); m = 0 (TRL >= 1.0) or, with           |
// |              |   bco_running_mean, the running mean of all rewards b*cl, b*rl (TRL < 1.0) |
// | sppo_hard    | (sc - 1/(2b))^2 + (sr + 1/(2b))^2                                          |
// | aot          | -(1-ls) lsig(b x) - ls lsig(-b x); x = sort(pc - pr) - sort(rc - rr)       |
// | aot_unpaired | the same with x = sort(cl) - sort(rl)                                      |
// | apo_zero     | 1 - sig(b cl) + sig(b rl)                                                  |
// | apo_down     | sig(b cl) + 1 - sig(b d)                                                   |
// | discopop     | (1-m) (-lsig(b d)) + m exp(-b d); m = sig(b d / discopop_tau)              |
// |              |   (m exp(-b d) evaluated as exp(-b d + lsig(b d / tau)): no inf * 0)       |
// | sft          | mean NLL over every chosen completion token of the batch (same for each i) |
// | sigmoid_norm | -lsig(b (sc/nc - sr/nr))                                                   |
//
// loss = sum_k loss_weights[k] * mean_i(loss_k[i] * w_i) + rpo_alpha * nll, where
//   w_i = 1, or with use_weighting (WPO) w_i = exp(mean_t wc_t) * exp(mean_t wr_t) over the chosen
//   / rejected completion tokens, wc_t = log p_t - log sum_v p_v^2 (no gradient); nll = the sft
//   term (RPO, TRL < 1.0).
// Rewards: chosen b*cl, rejected b*rl (detached, with the actual reference even when
// reference_free, as TRL computes them).
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

namespace dpo {

enum class LossType {
  kSigmoid,
  kHinge,
  kIpo,
  kExoPair,
  kNcaPair,
  kRobust,
  kBcoPair,
  kSppoHard,
  kAot,
  kAotUnpaired,
  kApoZero,
  kApoDown,
  kDiscopop,
  kSft,
  kSigmoidNorm,
};

enum class FDivergence { kReverseKl, kForwardKl, kJsDivergence, kAlphaDivergence };

// TRL's names ("sigmoid", "apo_zero", ...). UserError listing the valid names on an unknown one.
LossType parse_loss_type(const std::string& name);
std::vector<LossType> parse_loss_types(const std::vector<std::string>& names);
std::string loss_type_name(LossType type);
std::vector<std::string> loss_type_names();
FDivergence parse_f_divergence(const std::string& name);
std::string f_divergence_name(FDivergence type);

struct LossConfig {
  double beta = 0.1;
  std::vector<LossType> loss_types = {LossType::kSigmoid};
  std::vector<double> loss_weights;  // empty: 1 for each loss type
  double label_smoothing = 0.0;
  std::optional<double> rpo_alpha;
  bool reference_free = false;
  std::optional<double> ld_alpha;  // applied where log-probs are summed (train/logprobs.h)
  bool use_weighting = false;
  double discopop_tau = 0.05;
  FDivergence f_divergence_type = FDivergence::kReverseKl;
  double f_alpha_divergence_coef = 0.5;
  bool bco_running_mean = false;  // TRL < 1.0 bco_pair (running reward mean); off as TRL >= 1.0

  // UserError for inconsistent settings (as TRL): loss_weights length, beta <= 0, exo_pair with
  // label_smoothing 0, use_weighting with aot/aot_unpaired, label_smoothing outside [0, 1],
  // robust with label_smoothing >= 0.5, ld_alpha outside [0, 1], discopop_tau <= 0, an
  // f_divergence_type other than reverse_kl with a loss type that has no f-divergence form.
  void validate() const;
  bool needs_nll() const;  // sft among the loss types, or rpo_alpha set
};

// Running mean / variance of a stream (TRL's RunningMoments), the bco_pair state.
struct RunningMoments {
  double mean = 0.0;
  double var = 1.0;
  double std = 1.0;
  double count = 1e-24;
  void update(const at::Tensor& values);  // all elements of `values` as one batch
};

// What the losses read, per pair. Policy tensors carry gradients; the others are detached.
struct PreferenceLogps {
  at::Tensor chosen_logps;        // (P) policy (ld_alpha-weighted when set)
  at::Tensor rejected_logps;      // (P)
  at::Tensor ref_chosen_logps;    // (P) reference; may be undefined when reference_free
  at::Tensor ref_rejected_logps;  // (P)
  at::Tensor chosen_tokens;       // (P) completion token counts
  at::Tensor rejected_tokens;     // (P)
  // sft / rpo: plain sums of the chosen log-probs (no ld_alpha), with gradient. Undefined: the
  // same as chosen_logps.
  at::Tensor chosen_logps_plain;
  // use_weighting: per-sequence sums over completion tokens of log p_t - log sum_v p_v^2.
  at::Tensor chosen_wpo_logps;    // (P)
  at::Tensor rejected_wpo_logps;  // (P)
};

struct LossOutput {
  at::Tensor loss;              // () float64, differentiable
  at::Tensor per_pair_loss;     // (P) float64, detached: sum_k w_k loss_k[i] * w_i (+ rpo term);
                                //   aot/aot_unpaired terms are in sorted order, as TRL
  at::Tensor chosen_rewards;    // (P) float64, detached
  at::Tensor rejected_rewards;  // (P) float64, detached
  at::Tensor nll;               // () detached; defined when config.needs_nll()
  std::vector<at::Tensor> per_type_loss;  // () detached mean of each loss type (loss_types order)
};

// The loss of one batch. `bco_state` is updated by bco_pair with bco_running_mean (required then).
LossOutput preference_loss(const LossConfig& config, const PreferenceLogps& logps,
                           RunningMoments* bco_state = nullptr);

}  // namespace dpo
