// Inverse frequencies follow transformers' modeling_rope_utils: computed in fp32 from the
// exponents arange(0, D, 2) / D; linear divides by the factor; llama3 smooths between the low- and
// high-frequency bands; dynamic NTK raises the base once positions pass the trained length.
#include "model/rope.h"

#include <cmath>

namespace dpo {

namespace {

// 1 / base^(arange(0, D, 2) / D), fp32 as transformers computes it.
at::Tensor default_inv_freq(double base, int64_t head_dim) {
  at::Tensor exponents =
      at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
  return 1.0 / at::pow(base, exponents);
}

at::Tensor llama3_inv_freq(const RopeConfig& rope, at::Tensor inv_freq) {
  double old_context = static_cast<double>(rope.original_max_position_embeddings);
  double low_freq_wavelen = old_context / rope.low_freq_factor;
  double high_freq_wavelen = old_context / rope.high_freq_factor;
  at::Tensor wavelen = 2 * M_PI / inv_freq;
  // Long wavelengths (low frequencies) are divided by the factor; short ones kept.
  at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq);
  // In between, interpolate smoothly.
  at::Tensor smooth = (old_context / wavelen - rope.low_freq_factor) /
                      (rope.high_freq_factor - rope.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
  at::Tensor is_medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return at::where(is_medium, smoothed, scaled);
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config)
    : rope_(config.rope),
      head_dim_(config.head_dim),
      max_positions_(config.max_position_embeddings) {
  if (rope_.original_max_position_embeddings <= 0)
    rope_.original_max_position_embeddings = max_positions_;
  at::Tensor base = default_inv_freq(rope_.theta, head_dim_);
  if (rope_.type == "linear")
    inv_freq_ = base / rope_.factor;
  else if (rope_.type == "llama3")
    inv_freq_ = llama3_inv_freq(rope_, base);
  else
    inv_freq_ = base;  // default; dynamic below its trained length
}

at::Tensor RotaryEmbedding::inv_freq(int64_t max_position) const {
  int64_t seq_len = max_position + 1;
  int64_t trained = rope_.original_max_position_embeddings;
  if (rope_.type != "dynamic" || seq_len <= trained) return inv_freq_;
  // Dynamic NTK: base * ((factor * L / L0) - (factor - 1))^(D / (D - 2)).
  double d = static_cast<double>(head_dim_);
  double base = rope_.theta * std::pow(rope_.factor * static_cast<double>(seq_len) /
                                               static_cast<double>(trained) -
                                           (rope_.factor - 1),
                                       d / (d - 2));
  return default_inv_freq(base, head_dim_);
}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::cos_sin(const at::Tensor& position_ids,
                                                           at::ScalarType dtype) const {
  // Only dynamic NTK depends on the largest position (avoids a device sync otherwise).
  int64_t max_position =
      rope_.type == "dynamic" && position_ids.numel() ? position_ids.max().item<int64_t>() : 0;
  at::Tensor freq = inv_freq(max_position).to(position_ids.device());    // (D/2)
  at::Tensor angles = position_ids.to(at::kFloat).unsqueeze(-1) * freq;  // (N, T, D/2)
  at::Tensor emb = at::cat({angles, angles}, -1);                        // (N, T, D)
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  at::Tensor rotated =
      at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);  // rotate_half
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);             // x's shape
}

}  // namespace dpo
