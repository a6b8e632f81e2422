// The one place where libtorch 1.13 (Debian, CPU) and libtorch >= 2 (CUDA builds) differ.
// Header-only; include it instead of guarding versions elsewhere.
#pragma once
#include <ATen/ATen.h>
#include <torch/version.h>

#include <optional>
#include <stdexcept>
#include <type_traits>

namespace c10d {
class Backend;
class ProcessGroup;
}  // namespace c10d

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

// c10d's interface of one collective backend (ProcessGroupGloo, ProcessGroupNCCL derive from it):
// c10d::Backend from 2.0 on, c10d::ProcessGroup in 1.13.
using C10dBackend = std::conditional_t<kTorch2, c10d::Backend, c10d::ProcessGroup>;

inline const char* torch_version() {
  return TORCH_VERSION;
}

// q: (N, H, T, D), k/v: (N, Hkv or H, S, D); `allowed` bool (N, 1, T, S) or undefined.
// gqa = true only where kSdpaHasGqa. libtorch 1.13 has no SDPA: std::logic_error there.
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k,
                                               const at::Tensor& v, const at::Tensor& allowed,
                                               bool is_causal, double scale, bool gqa) {
// The mask goes in as the tensor or as `{}` (no mask), which fits the optional parameter whether it
// is c10::optional (2.1-2.3) or std::optional (later).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  if (allowed.defined())
    return at::scaled_dot_product_attention(q, k, v, allowed, 0.0, is_causal, scale, gqa);
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, is_causal, scale, gqa);
#elif TORCH_VERSION_MAJOR >= 2
  (void)gqa;
  if (allowed.defined())
    return at::scaled_dot_product_attention(q, k, v, allowed, 0.0, is_causal, scale);
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, is_causal, scale);
#else
  (void)q, (void)k, (void)v, (void)allowed, (void)is_causal, (void)scale, (void)gqa;
  throw std::logic_error("scaled_dot_product_attention needs libtorch >= 2");
#endif
}

#if DPO_HAS_FLASH_VARLEN
namespace detail {
// The call when this libtorch's at::_flash_attention_forward takes these arguments (its first ten,
// then `scale`, as from 2.2 to 2.11); otherwise the overload below, so that a changed signature
// turns into the masked fallback at run time instead of a build error.
template <typename T>
auto flash_varlen(const T& q, const T& k, const T& v, const T& cu_q, const T& cu_k, int64_t max_q,
                  int64_t max_k, double scale, int)
    -> decltype(void(at::_flash_attention_forward(q, k, v, cu_q, cu_k, max_q, max_k, 0.0, true,
                                                  false, scale)),
                T()) {
  return std::get<0>(at::_flash_attention_forward(q, k, v, cu_q, cu_k, max_q, max_k,
                                                  /*dropout_p=*/0.0, /*is_causal=*/true,
                                                  /*return_debug_mask=*/false, scale));
}
template <typename T>
T flash_varlen(const T&, const T&, const T&, const T&, const T&, int64_t, int64_t, double, long) {
  throw std::logic_error("at::_flash_attention_forward of this libtorch takes other arguments");
}
}  // namespace detail
#endif

// Flash attention over variable-length sequences laid end to end: q (L, H, D), k/v (Lk, Hkv, D)
// with Hkv dividing H; query sequence b is q's rows cu_seqlens_q[b] .. cu_seqlens_q[b+1] and
// attends to k/v's rows cu_seqlens_k[b] .. cu_seqlens_k[b+1] (both (B + 1) int32 on q's device),
// causally with its queries the last of its keys (flash-attention's bottom-right alignment) ->
// (L, H, D). CUDA, bf16/fp16 only; throws where the build or the device lacks the kernel.
inline at::Tensor flash_varlen_attention(const at::Tensor& q, const at::Tensor& k,
                                         const at::Tensor& v, const at::Tensor& cu_seqlens_q,
                                         const at::Tensor& cu_seqlens_k, int64_t max_seqlen_q,
                                         int64_t max_seqlen_k, double scale) {
#if DPO_HAS_FLASH_VARLEN
  return detail::flash_varlen<at::Tensor>(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                                          max_seqlen_k, scale, 0);
#else
  (void)q, (void)k, (void)v, (void)cu_seqlens_q, (void)cu_seqlens_k, (void)max_seqlen_q,
      (void)max_seqlen_k, (void)scale;
  throw std::logic_error("flash varlen attention needs libtorch >= 2.2");
#endif
}

}  // namespace dpo::compat
