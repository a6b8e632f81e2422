// One LoRA adapter on a linear layer: delta(x) = s * B(A(dropout(x))), computed in float32.
// Shape legend: R rank, in/out the linear layer's features.
#pragma once
#include <ATen/ATen.h>

#include <memory>

#include "model/linear.h"

namespace dpo {

// Switches shared by every adapter of one LoraModel.
struct LoraSwitches {
  bool enabled = true;         // false: the layer is the base layer (reference pass)
  bool dropout_active = true;  // training mode for lora_dropout
};

class LoraLinear : public LinearAdapter {
 public:
  // lora_A (R, in) and lora_B (out, R), float32 on the base layer's device.
  LoraLinear(at::Tensor lora_A, at::Tensor lora_B, double scaling, double dropout,
             std::shared_ptr<const LoraSwitches> switches);

  // x (..., in) any float dtype -> (..., out) in x's dtype; the adapter path runs in float32.
  at::Tensor delta(const at::Tensor& x) const override;
  bool enabled() const override { return switches_->enabled; }

  at::Tensor& lora_A() { return lora_A_; }
  at::Tensor& lora_B() { return lora_B_; }
  const at::Tensor& lora_A() const { return lora_A_; }
  const at::Tensor& lora_B() const { return lora_B_; }
  double scaling() const { return scaling_; }
  double dropout() const { return dropout_; }
  int64_t rank() const { return lora_A_.size(0); }
  // s * B @ A: (out, in) float32, no gradient.
  at::Tensor merged_delta() const;

 private:
  at::Tensor lora_A_;  // (R, in)
  at::Tensor lora_B_;  // (out, R)
  double scaling_;
  double dropout_;
  std::shared_ptr<const LoraSwitches> switches_;
};

}  // namespace dpo
