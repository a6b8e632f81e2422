// KTO's loss (TRL 1.16's KTOTrainer._compute_loss): unpaired completions, each desirable
// (label true) or not, against the reference, with a KL estimate from mismatched pairs.
// Shape legend: B examples of a micro-batch.
//
// Notation (example i): lr_i = policy log-prob - reference log-prob of its completion (summed
// over the completion tokens); b = beta; wd, wu = desirable_weight, undesirable_weight.
//   kl = max(0, mean_i(policy_kl_i - reference_kl_i))   over the batch's KL completions (the
//        completion of another example after example i's prompt); detached
//   | loss_type          | desirable (label true)     | undesirable (label false)    |
//   |--------------------|----------------------------|------------------------------|
//   | kto                | wd (1 - sig(b (lr - kl)))  | wu (1 - sig(b (kl - lr)))    |
//   | apo_zero_unpaired  | wd (1 - sig(b lr))         | wu sig(b lr)                 |
//   loss = mean over every example of its weighted term; rewards b * lr (detached).
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace dpo {

enum class KtoLossType { kKto, kApoZeroUnpaired };

// TRL's KTOConfig.loss_type names (one of kto, apo_zero_unpaired); UserError naming `key`.
KtoLossType parse_kto_loss_type(const std::vector<std::string>& names, const std::string& key);
std::string kto_loss_type_name(KtoLossType type);

struct KtoLossConfig {
  KtoLossType loss_type = KtoLossType::kKto;
  double beta = 0.1;
  double desirable_weight = 1.0;
  double undesirable_weight = 1.0;

  // kto estimates the KL term (a second, mismatched sequence per example); apo_zero_unpaired not.
  bool uses_kl() const { return loss_type == KtoLossType::kKto; }
  // UserError for beta <= 0 or a negative weight.
  void validate() const;
};

struct KtoLossOutput {
  at::Tensor loss;              // () float64, differentiable
  at::Tensor per_example_loss;  // (B) float64, detached: each example's weighted term
  at::Tensor rewards;           // (B) float64, detached: b * lr
  at::Tensor kl;                // () float64, detached (0 without the KL term)
};

// policy, reference (B): completion log-probs; policy_kl, reference_kl (B): the KL completions'
// (undefined without the KL term); desirable (B) bool.
KtoLossOutput kto_loss(const KtoLossConfig& config, const at::Tensor& policy,
                       const at::Tensor& reference, const at::Tensor& policy_kl,
                       const at::Tensor& reference_kl, const at::Tensor& desirable);

}  // namespace dpo
