// AdamW with torch.optim.AdamW's arithmetic (torch >= 2: lerp for the first moment, bias
// corrections, eps added after dividing sqrt(v) by sqrt(1 - beta2^t), decoupled weight decay
// p <- p * (1 - lr * wd) before the update), parameter groups, and state as named tensors.
// Also torch.nn.utils.clip_grad_norm_.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace dpo {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

struct ParamGroup {
  std::vector<std::pair<std::string, at::Tensor>> params;  // unique names
  double weight_decay = 0.0;
};

// HF Trainer's grouping: weight decay for every parameter except biases and norm weights
// (names containing "bias" or "norm", and 1-D tensors).
std::vector<ParamGroup> weight_decay_groups(
    const std::vector<std::pair<std::string, at::Tensor>>& params, double weight_decay);

class AdamW {
 public:
  AdamW(std::vector<ParamGroup> groups, AdamWOptions options);

  // One update of every parameter that has a gradient (others are skipped, as torch does).
  void step();
  void zero_grad();  // gradients set to undefined (torch's set_to_none)
  void set_lr(double lr) { options_.lr = lr; }
  double lr() const { return options_.lr; }
  const AdamWOptions& options() const { return options_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // "<param>.exp_avg", "<param>.exp_avg_sq" (parameter's shape, float32) and "<param>.step"
  // (int64 scalar) for every parameter that has state. CPU copies.
  std::map<std::string, at::Tensor> state_dict() const;
  // Restores what state_dict() gave. UserError naming `source` and the key for a name that is not
  // a parameter's state, a shape mismatch, or a parameter with partial state.
  void load_state_dict(const std::map<std::string, at::Tensor>& state, const std::string& source);

 private:
  struct State {
    at::Tensor exp_avg, exp_avg_sq;
    int64_t step = 0;
  };
  std::vector<ParamGroup> groups_;
  AdamWOptions options_;
  std::map<std::string, State> state_;
};

// Scales every gradient by min(1, max_norm / (total_norm + 1e-6)) and returns the total L2 norm
// of the gradients before clipping (torch.nn.utils.clip_grad_norm_). Parameters without a
// gradient are skipped. max_norm <= 0: only measures.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace dpo
