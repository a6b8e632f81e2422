// RMSNorm as Hugging Face LlamaRMSNorm computes it: statistics in fp32, the normalized values cast
// back to the input dtype, then multiplied by the weight.
#pragma once
#include <ATen/ATen.h>

namespace dpo {

// x: (..., C), weight: (C) -> (..., C)
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// Gemma's RMSNorm: the weight applied as (1 + weight) to the fp32 normalized values, then cast
// back (Gemma2RMSNorm / Gemma3RMSNorm). x: (..., C), weight: (C) -> (..., C)
at::Tensor rms_norm_plus_one(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace dpo
