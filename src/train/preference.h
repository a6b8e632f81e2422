// One preference batch through the model: policy log-probs (adapters on, with gradients) and
// reference log-probs (adapters off under no-grad, a separate reference model, or given).
// Shape legend: P pairs, S = 2P sequences (rows/sequences 0..P-1 chosen, P..2P-1 rejected).
#pragma once
#include <ATen/ATen.h>

#include "data/batch.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "train/logprobs.h"
#include "train/losses.h"

namespace dpo {

// Reference log-probs of a batch's pairs (the precompute cache stores these).
struct ReferenceLogps {
  at::Tensor chosen;    // (P) float32
  at::Tensor rejected;  // (P)
};

// Where the reference comes from, first match wins: `precomputed`; `reference_model` (full
// fine-tuning keeps a frozen copy); else `model` with every adapter of `lora` switched off (with
// no `lora`, the model itself: only meaningful for evaluating a plain model).
struct ReferenceSource {
  const ReferenceLogps* precomputed = nullptr;
  const LlamaModel* reference_model = nullptr;
  const LoraModel* lora = nullptr;
};

struct PreferenceForward {
  SequenceLogProbs policy;  // (S) per sequence, differentiable where the model has trainable params
  PreferenceLogps logps;    // what preference_loss reads (ld_alpha-weighted when set)
};

// Reference pass alone, under no-grad (ld_alpha applied as to the policy, as TRL does).
ReferenceLogps reference_log_probs(const LlamaModel& model, const TokenBatch& batch,
                                   const LogProbOptions& options, const ReferenceSource& source);

// Both passes for a padded / packed / prompt-sharing preference batch already on the model's
// device.
PreferenceForward preference_forward(const LlamaModel& model, const TokenBatch& batch,
                                     const LogProbOptions& options, const ReferenceSource& source);

// LogProbOptions for a loss configuration (ld_alpha, WPO sums when use_weighting).
LogProbOptions logprob_options_for(const LossConfig& config, bool token_stats);

}  // namespace dpo
