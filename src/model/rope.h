// Rotary position embeddings: inverse frequencies for the RoPE types of transformers (default,
// linear, llama3, dynamic NTK, YaRN, LongRoPE), cos/sin tables for given positions (times the
// type's attention scaling), and their application.
// Shape legend: N rows, T time, H heads, D head dim.
#pragma once
#include <ATen/ATen.h>

#include "io/model_config.h"

namespace dpo {

class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  explicit RotaryEmbedding(const ModelConfig& config);

  // cos and sin for position ids (N, T) -> each (N, T, D), in `dtype` (computed in fp32).
  std::pair<at::Tensor, at::Tensor> cos_sin(const at::Tensor& position_ids,
                                            at::ScalarType dtype) const;
  // (D/2) fp32 inverse frequencies used for a batch whose largest position is max_position.
  at::Tensor inv_freq(int64_t max_position) const;
  // What cos and sin are multiplied by (yarn, longrope; 1 for the other types).
  double attention_scaling() const { return attention_scaling_; }

 private:
  RopeConfig rope_;
  int64_t head_dim_ = 0;
  int64_t max_positions_ = 0;
  at::Tensor inv_freq_;       // (D/2) fp32, CPU: the static frequencies (longrope: short factors)
  at::Tensor long_inv_freq_;  // (D/2) fp32, CPU: longrope's long factors (else undefined)
  double attention_scaling_ = 1.0;
};

// yarn's and longrope's cos/sin multiplier as transformers derives it (attention_factor when
// given); 1 for the other types. original_max_position_embeddings must be resolved (> 0).
double rope_attention_scaling(const RopeConfig& rope);

// x: (N, H, T, D) rotated by cos/sin: (N, T, D); equally x: (L, H, D) by cos/sin: (L, D).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace dpo
