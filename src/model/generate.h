// Autoregressive generation of one sequence with a KV cache.
#pragma once
#include <cstdint>
#include <vector>

#include "model/llama.h"
#include "model/sampling.h"

namespace dpo {

struct GenerationOptions {
  int64_t max_new_tokens = 64;
  SamplingOptions sampling;
  uint64_t seed = 0;              // for sampling (a generator of its own; global RNG untouched)
  std::vector<int64_t> stop_ids;  // generation ends after emitting one of these (e.g. EOS ids)
};

// The new token ids (the stop id included when one ended it). UserError for an empty prompt.
std::vector<int64_t> generate(const LlamaModel& model, const std::vector<int64_t>& prompt_ids,
                              const GenerationOptions& options);

}  // namespace dpo
