#include "model/rmsnorm.h"

namespace dpo {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor x32 = x.to(at::kFloat);
  at::Tensor variance = x32.pow(2).mean(-1, /*keepdim=*/true);  // (..., 1)
  at::Tensor normalized = x32 * at::rsqrt(variance + eps);
  return weight * normalized.to(x.scalar_type());
}

at::Tensor rms_norm_plus_one(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor x32 = x.to(at::kFloat);
  at::Tensor variance = x32.pow(2).mean(-1, /*keepdim=*/true);  // (..., 1)
  at::Tensor normalized = x32 * at::rsqrt(variance + eps);
  return (normalized * (weight.to(at::kFloat) + 1.0)).to(x.scalar_type());
}

}  // namespace dpo
