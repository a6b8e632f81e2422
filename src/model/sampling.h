// Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p
// applied in that order (as transformers' logits processors do).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace dpo {

struct SamplingOptions {
  double temperature = 0.0;  // <= 0: greedy (argmax)
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
};

// UserError for negative top_k or top_p outside (0, 1].
void validate(const SamplingOptions& options);

// logits: (V) -> token id. `generator` is a CPU generator (seeded by the caller).
int64_t choose_token(const at::Tensor& logits, const SamplingOptions& options,
                     at::Generator& generator);

}  // namespace dpo
