// Inverse frequencies follow transformers' modeling_rope_utils: computed in fp32 from the
// exponents arange(0, D, 2) / D; linear divides by the factor; llama3 smooths between the low- and
// high-frequency bands; dynamic NTK raises the base once positions pass the trained length; YaRN
// blends interpolated and extrapolated frequencies along a ramp over the dimensions; LongRoPE
// divides by per-dimension factors, the long ones once a batch's positions pass the original
// length (as transformers' dynamic_rope_update decides, per batch). The scalar arithmetic is in
// double and the tensor arithmetic in fp32, operation for operation as transformers does it.
#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace dpo {

namespace {

// arange(0, D, 2) / D in fp32.
at::Tensor exponents(int64_t head_dim) {
  return at::arange(0, head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(head_dim);
}

// 1 / base^(arange(0, D, 2) / D), fp32 as transformers computes it.
at::Tensor default_inv_freq(double base, int64_t head_dim) {
  return 1.0 / at::pow(base, exponents(head_dim));
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

// The dimension at which a frequency turns `rotations` times over the original length.
double yarn_correction_dim(double rotations, double dim, double base, double original) {
  return (dim * std::log(original / (rotations * 2 * M_PI))) / (2 * std::log(base));
}

// YaRN: extrapolated (plain) frequencies below the ramp's start, interpolated (divided by the
// factor) past its end, linearly blended in between.
at::Tensor yarn_inv_freq(const RopeConfig& rope, int64_t head_dim) {
  const double dim = static_cast<double>(head_dim);
  const double original = static_cast<double>(rope.original_max_position_embeddings);
  at::Tensor pos_freqs = at::pow(rope.theta, exponents(head_dim));  // (D/2)
  at::Tensor extrapolation = 1.0 / pos_freqs;
  at::Tensor interpolation = 1.0 / (rope.factor * pos_freqs);
  double low = yarn_correction_dim(rope.beta_fast, dim, rope.theta, original);
  double high = yarn_correction_dim(rope.beta_slow, dim, rope.theta, original);
  if (rope.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, dim - 1);
  if (low == high) high += 0.001;  // transformers' guard against a zero-width ramp
  at::Tensor ramp = ((at::arange(head_dim / 2, at::kFloat) - low) / (high - low)).clamp(0, 1);
  at::Tensor extrapolation_factor = 1 - ramp;  // (D/2)
  return interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
}

// LongRoPE: 1 / (factors * base^(arange(0, D, 2) / D)).
at::Tensor longrope_inv_freq(const RopeConfig& rope, const std::vector<double>& factors,
                             int64_t head_dim) {
  std::vector<float> f(factors.begin(), factors.end());
  at::Tensor ext = at::tensor(f, at::kFloat);  // (D/2)
  return 1.0 / (ext * at::pow(rope.theta, exponents(head_dim)));
}

double yarn_mscale(double scale, double mscale) {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

double rope_attention_scaling(const RopeConfig& rope) {
  if (rope.attention_factor > 0) return rope.attention_factor;
  if (rope.type == "yarn") {
    if (rope.mscale != 0 && rope.mscale_all_dim != 0)
      return yarn_mscale(rope.factor, rope.mscale) / yarn_mscale(rope.factor, rope.mscale_all_dim);
    return yarn_mscale(rope.factor, 1.0);
  }
  if (rope.type == "longrope") {
    if (rope.factor <= 1.0) return 1.0;
    return std::sqrt(1 + std::log(rope.factor) /
                             std::log(static_cast<double>(rope.original_max_position_embeddings)));
  }
  return 1.0;
}

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config)
    : rope_(config.rope),
      head_dim_(config.head_dim),
      max_positions_(config.max_position_embeddings) {
  if (rope_.original_max_position_embeddings <= 0)
    rope_.original_max_position_embeddings = max_positions_;
  at::Tensor base = default_inv_freq(rope_.theta, head_dim_);
  if (rope_.type == "linear") {
    inv_freq_ = base / rope_.factor;
  } else if (rope_.type == "llama3") {
    inv_freq_ = llama3_inv_freq(rope_, base);
  } else if (rope_.type == "yarn") {
    inv_freq_ = yarn_inv_freq(rope_, head_dim_);
  } else if (rope_.type == "longrope") {
    inv_freq_ = longrope_inv_freq(rope_, rope_.short_factor, head_dim_);
    long_inv_freq_ = longrope_inv_freq(rope_, rope_.long_factor, head_dim_);
  } else {
    inv_freq_ = base;  // default; dynamic below its trained length
  }
  attention_scaling_ = rope_attention_scaling(rope_);
}

at::Tensor RotaryEmbedding::inv_freq(int64_t max_position) const {
  int64_t seq_len = max_position + 1;
  int64_t trained = rope_.original_max_position_embeddings;
  if (rope_.type == "longrope") return seq_len > trained ? long_inv_freq_ : inv_freq_;
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
  // Only dynamic NTK and LongRoPE depend on the largest position (a device sync otherwise
  // avoided): the whole batch's, as transformers' dynamic_rope_update takes it.
  const bool by_length = rope_.type == "dynamic" || rope_.type == "longrope";
  int64_t max_position = by_length && position_ids.numel() ? position_ids.max().item<int64_t>() : 0;
  at::Tensor freq = inv_freq(max_position).to(position_ids.device());    // (D/2)
  at::Tensor angles = position_ids.to(at::kFloat).unsqueeze(-1) * freq;  // (N, T, D/2)
  at::Tensor emb = at::cat({angles, angles}, -1);                        // (N, T, D)
  at::Tensor cos = emb.cos(), sin = emb.sin();                           // (N, T, D) fp32
  if (attention_scaling_ != 1.0) {
    cos = cos * attention_scaling_;
    sin = sin * attention_scaling_;
  }
  return {cos.to(dtype), sin.to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  at::Tensor rotated =
      at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);  // rotate_half
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);             // x's shape
}

}  // namespace dpo
