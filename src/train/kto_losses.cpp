// KTO and its unpaired APO-zero variant as TRL 1.16's KTOTrainer computes them; formulas in
// train/kto_losses.h. Shape legend: B examples.
#include "train/kto_losses.h"

#include "util/error.h"
#include "util/strings.h"

namespace dpo {

namespace {

const std::vector<std::pair<std::string, KtoLossType>>& kto_loss_names() {
  static const std::vector<std::pair<std::string, KtoLossType>> names = {
      {"kto", KtoLossType::kKto}, {"apo_zero_unpaired", KtoLossType::kApoZeroUnpaired}};
  return names;
}

}  // namespace

KtoLossType parse_kto_loss_type(const std::vector<std::string>& names, const std::string& key) {
  if (names.size() == 1)
    for (const auto& [name, type] : kto_loss_names())
      if (name == names[0]) return type;
  throw_user_error(
      "{}: dpo kto takes one loss type, kto or apo_zero_unpaired (TRL's KTOConfig.loss_type), "
      "got [{}]",
      key, join(names, ", "));
}

std::string kto_loss_type_name(KtoLossType type) {
  for (const auto& [name, t] : kto_loss_names())
    if (t == type) return name;
  return "?";
}

void KtoLossConfig::validate() const {
  if (!(beta > 0)) throw_user_error("beta: must be > 0, got {}", beta);
  if (!(desirable_weight >= 0))
    throw_user_error("desirable_weight: must be >= 0, got {}", desirable_weight);
  if (!(undesirable_weight >= 0))
    throw_user_error("undesirable_weight: must be >= 0, got {}", undesirable_weight);
}

KtoLossOutput kto_loss(const KtoLossConfig& c, const at::Tensor& policy,
                       const at::Tensor& reference, const at::Tensor& policy_kl,
                       const at::Tensor& reference_kl, const at::Tensor& desirable) {
  DPO_CHECK(!c.uses_kl() || (policy_kl.defined() && reference_kl.defined()),
            "kto_loss: the KL completions' log-probs are missing");
  const double b = c.beta;
  at::Tensor logratio = policy.to(at::kDouble) - reference.to(at::kDouble).detach();  // (B)
  at::Tensor kl = at::zeros({}, logratio.options());
  if (c.uses_kl())
    kl = (policy_kl.detach().to(at::kDouble) - reference_kl.to(at::kDouble)).mean().clamp_min(0);
  at::Tensor good, bad;  // (B) the term for a desirable / an undesirable example
  if (c.loss_type == KtoLossType::kKto) {
    good = 1.0 - at::sigmoid(b * (logratio - kl));
    bad = 1.0 - at::sigmoid(b * (kl - logratio));
  } else {
    good = 1.0 - at::sigmoid(b * logratio);
    bad = at::sigmoid(b * logratio);
  }
  at::Tensor is_good = desirable.to(at::kBool).to(logratio.device());
  at::Tensor terms = at::where(is_good, c.desirable_weight * good, c.undesirable_weight * bad);
  KtoLossOutput out;
  out.loss = terms.mean();
  out.per_example_loss = terms.detach();
  out.rewards = (b * logratio).detach();
  out.kl = kl;
  return out;
}

}  // namespace dpo
