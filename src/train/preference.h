// The pieces of a preference batch's forward: one pass of a model over a batch, and the
// (chosen, rejected) view of the policy's and the reference's log-probs that the losses read.
// Shape legend: P pairs, S = 2P sequences (rows/sequences 0..P-1 chosen, P..2P-1 rejected).
#pragma once
#include <ATen/ATen.h>

#include "data/batch.h"
#include "model/llama.h"
#include "train/logprobs.h"
#include "train/losses.h"
#include "train/reference.h"

namespace dpo {

// InternalError unless the batch has 2P sequences.
void check_preference_batch(const TokenBatch& batch);

// Per-sequence log-probs of `batch` under `model` (differentiable where the model has trainable
// parameters and grad mode is on).
SequenceLogProbs sequence_pass(const LlamaModel& model, const TokenBatch& batch,
                               const LogProbOptions& options);

// What preference_loss reads: the policy's (S) log-probs split into chosen and rejected, next to
// the reference's (moved to the policy's device).
PreferenceLogps pair_logps(const SequenceLogProbs& policy, const RefLogps& reference,
                           int64_t num_pairs);

// LogProbOptions for a loss configuration (ld_alpha, WPO sums when use_weighting).
LogProbOptions logprob_options_for(const LossConfig& config, bool token_stats);

}  // namespace dpo
