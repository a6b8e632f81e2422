// A linear layer y = x W^T (+ b) with an optional adapter hook. The model layer defines the hook;
// lora/ implements it, so the model never includes lora/ (lower layers never include upper ones).
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>

namespace dpo {

// Something that adds a learned delta to a linear layer's output (LoRA).
class LinearAdapter {
 public:
  virtual ~LinearAdapter() = default;
  // x: (..., in) -> delta: (..., out), added to the base output.
  virtual at::Tensor delta(const at::Tensor& x) const = 0;
  // False while adapters are switched off (reference pass).
  virtual bool enabled() const = 0;
};

struct Linear {
  at::Tensor weight;  // (out, in), HF layout
  at::Tensor bias;    // (out) or undefined
  std::shared_ptr<LinearAdapter> adapter;  // null when none

  at::Tensor forward(const at::Tensor& x) const {  // (..., in) -> (..., out)
    at::Tensor y = at::linear(x, weight, bias);
    if (adapter && adapter->enabled()) y = y + adapter->delta(x);
    return y;
  }
  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }
};

}  // namespace dpo
