// The one place where libtorch 1.13 (Debian, CPU) and libtorch >= 2 (CUDA builds) differ.
// Header-only; include it instead of guarding versions elsewhere.
#pragma once
#include <ATen/ATen.h>
#include <torch/version.h>

#include <optional>
#include <stdexcept>

namespace dpo::compat {

constexpr bool kTorch2 = TORCH_VERSION_MAJOR >= 2;
// at::scaled_dot_product_attention exists from 2.0; `enable_gqa` from 2.5.
constexpr bool kHasSdpa = TORCH_VERSION_MAJOR >= 2;
constexpr bool kSdpaHasGqa = TORCH_VERSION_MAJOR > 2 ||
                             (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5);
// at::_flash_attention_forward with cumulative sequence lengths (variable-length batches) and a
// `scale`, differentiable through autograd: 2.2 on (its first ten arguments unchanged since).
#define DPO_HAS_FLASH_VARLEN \
  (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2))
constexpr bool kHasFlashVarlen = DPO_HAS_FLASH_VARLEN;

inline const char* torch_version() {
  return TORCH_VERSION;
}

// q: (N, H, T, D), k/v: (N, Hkv or H, S, D); `allowed` bool (N, 1, T, S) or undefined.
// gqa = true only where kSdpaHasGqa. libtorch 1.13 has no SDPA: std::logic_error there.
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v, const at::Tensor& allowed,
                                               bool is_causal, double scale, bool gqa) {
#if TORCH_VERSION_MAJOR >= 2
  c10::optional<at::Tensor> mask;
  if (allowed.defined()) mask = allowed;
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, scale, gqa);
#elif TORCH_VERSION_MAJOR >= 2
  (void)gqa;
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, is_causal, scale);
#else
  (void)q, (void)k, (void)v, (void)allowed, (void)is_causal, (void)scale, (void)gqa;
  throw std::logic_error("scaled_dot_product_attention needs libtorch >= 2");
#endif
}

// Flash attention over variable-length sequences laid end to end: q (L, H, D), k/v (L, Hkv, D)
// with Hkv dividing H, cu_seqlens (B + 1) int32 on q's device, causal within each sequence ->
// (L, H, D). CUDA, bf16/fp16 only; throws where the build or the device lacks the kernel.
inline at::Tensor flash_varlen_attention(const at::Tensor& q, const at::Tensor& k,
                                         const at::Tensor& v, const at::Tensor& cu_seqlens,
                                         int64_t max_seqlen, double scale) {
#if DPO_HAS_FLASH_VARLEN
  return std::get<0>(at::_flash_attention_forward(q, k, v, cu_seqlens, cu_seqlens, max_seqlen,
                                                  max_seqlen, /*dropout_p=*/0.0,
                                                  /*is_causal=*/true,
                                                  /*return_debug_mask=*/false, scale));
#else
  (void)q, (void)k, (void)v, (void)cu_seqlens, (void)max_seqlen, (void)scale;
  throw std::logic_error("flash varlen attention needs libtorch >= 2.2");
#endif
}

}  // namespace dpo::compat
