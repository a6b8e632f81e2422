// The one place where libtorch 1.13 (Debian, CPU) and libtorch >= 2 (CUDA builds) differ.
// Header-only; include it instead of guarding versions elsewhere.
#pragma once
#include <ATen/ATen.h>
#include <torch/version.h>

#include <optional>

namespace dpo::compat {

constexpr bool kTorch2 = TORCH_VERSION_MAJOR >= 2;
// at::scaled_dot_product_attention exists from 2.0; `enable_gqa` from 2.5.
constexpr bool kHasSdpa = TORCH_VERSION_MAJOR >= 2;
constexpr bool kSdpaHasGqa = TORCH_VERSION_MAJOR > 2 ||
                             (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5);

inline const char* torch_version() {
  return TORCH_VERSION;
}

}  // namespace dpo::compat
