// RMSNorm as Hugging Face LlamaRMSNorm computes it: statistics in fp32, the normalized values cast
// back to the input dtype, then multiplied by the weight.
#pragma once
#include <ATen/ATen.h>

namespace dpo {

// x: (..., C), weight: (C) -> (..., C)
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace dpo
