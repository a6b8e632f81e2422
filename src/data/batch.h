// Batches as tensors for the model and the losses. Shape legend: P pairs, N rows, T time.
// For preference batches N = 2P: rows 0..P-1 chosen, rows P..2P-1 rejected (TRL's concatenation).
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "data/examples.h"
#include "model/model_input.h"

namespace dpo {

enum class BatchLayout {
  kPadded,         // one sequence per row, right padding (TRL's layout)
  kPacked,         // several sequences per row, segment_ids, positions restart per sequence
  kPromptSharing,  // prompt once, then chosen and rejected, each seeing the prompt and itself
};

struct TokenBatch {
  ModelInput input;            // input_ids (N, T), position_ids, and the layout's mask fields
  at::Tensor completion_mask;  // (N, T) bool: token t is a completion token scored by the loss
  // Which sequence each scored token belongs to: (N, T) int64, -1 where nothing is scored. For the
  // padded layout this is the row index; for packed/prompt-sharing the sequence index 0..S-1.
  at::Tensor sequence_index;
  // The position whose logits predict token t: (N, T) int64, -1 where nothing is scored. t - 1 in
  // the padded and packed layouts; in prompt-sharing the first rejected token is predicted from
  // the last prompt position. A sequence's first token is never scored (nothing precedes it).
  at::Tensor logit_index;
  int64_t num_sequences = 0;  // S: 2P for preference batches (chosen 0..P-1, rejected P..2P-1)
  int64_t num_pairs = 0;      // P (0 for SFT batches)
  int64_t real_tokens = 0;    // non-pad tokens (throughput)
  std::vector<int64_t> example_indices;  // PreferenceExample::index per pair (or SftExample)
};

// max_row_tokens of padding-free batches: rows as wide as the batch's longest sequence, so a
// packed batch never computes more token positions than the padded one, and attention spans
// stay as short as there.
constexpr int64_t kRowsAsWideAsTheLongestSequence = -1;

// max_row_tokens of padding-free batches for a model: one row holding every sequence where packed
// rows run variable-length attention (LlamaModel::packed_rows_use_varlen_attention: no mask, so
// the row's width costs nothing and no position is padding), else rows as wide as the longest
// sequence.
constexpr int64_t padding_free_row_tokens(bool varlen_attention) {
  return varlen_attention ? 0 : kRowsAsWideAsTheLongestSequence;
}

// Builders. Rows are built on the CPU; `.to(device)` is the caller's. Packed rows hold up to
// max_row_tokens each, filled first-fit, longest sequence first (0 = one row holding all, in order:
// chosen 0..P-1, then rejected; a longer sequence gets a row of its own); sequence_index keeps the
// order. Prompt-sharing is for preference pairs only (N = P).
TokenBatch make_preference_batch(const std::vector<PreferenceExample>& pairs, BatchLayout layout,
                                 int64_t pad_token_id, int64_t max_row_tokens = 0);
TokenBatch make_sft_batch(const std::vector<SftExample>& examples, BatchLayout layout,
                          int64_t pad_token_id, int64_t max_row_tokens = 0);

// Moves every tensor of the batch to `device`.
TokenBatch to_device(const TokenBatch& batch, at::Device device);

}  // namespace dpo
