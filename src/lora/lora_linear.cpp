// LoRA delta of one linear layer. Shape legend: R rank, in/out features.
#include "lora/lora_linear.h"

#include "util/error.h"

namespace dpo {

LoraLinear::LoraLinear(at::Tensor lora_A, at::Tensor lora_B, double scaling, double dropout,
                       std::shared_ptr<const LoraSwitches> switches)
    : lora_A_(std::move(lora_A)),
      lora_B_(std::move(lora_B)),
      scaling_(scaling),
      dropout_(dropout),
      switches_(std::move(switches)) {
  DPO_CHECK(lora_A_.dim() == 2 && lora_B_.dim() == 2 && lora_A_.size(0) == lora_B_.size(1),
            "LoRA A (R, in) and B (out, R) shapes do not fit");
  DPO_CHECK(lora_A_.scalar_type() == at::kFloat && lora_B_.scalar_type() == at::kFloat,
            "LoRA weights must be float32");
}

at::Tensor LoraLinear::delta(const at::Tensor& x) const {
  at::Tensor h = x.to(at::kFloat);  // (..., in)
  if (switches_->dropout_active && dropout_ > 0.0) h = at::dropout(h, dropout_, /*train=*/true);
  at::Tensor down = at::linear(h, lora_A_);   // (..., R)
  at::Tensor up = at::linear(down, lora_B_);  // (..., out)
  return (up * scaling_).to(x.scalar_type());
}

at::Tensor LoraLinear::merged_delta() const {
  at::NoGradGuard no_grad;
  return at::matmul(lora_B_, lora_A_) * scaling_;  // (out, in)
}

}  // namespace dpo
