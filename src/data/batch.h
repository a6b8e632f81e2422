// Batches as tensors for the model and the losses. Shape legend: P pairs, N rows, T time.
// For preference batches N = 2P: rows 0..P-1 chosen, rows P..2P-1 rejected (TRL's concatenation).
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "data/examples.h"
#include "io/model_input.h"

namespace dpo {

enum class BatchLayout {
  kPadded,         // one sequence per row, right padding (TRL's layout)
  kPacked,         // several sequences per row, segment_ids, positions restart per sequence
  kPromptSharing,  // per pair one segment [prompt | chosen | rejected], packed as kPacked: the
                   // prompt computed once, chosen and rejected each seeing the prompt and itself
};

struct TokenBatch {
  ModelInput input;            // input_ids (N, T), position_ids, and the layout's mask fields
  at::Tensor completion_mask;  // (N, T) bool: token t is a completion token scored by the loss
  // Which sequence each token belongs to: (N, T) int64, -1 on padding. For the padded layout this
  // is the row index; for packed/prompt-sharing the sequence index 0..S-1 (prompt-sharing: the
  // shared prompt belongs to the chosen sequence).
  at::Tensor sequence_index;
  // The position whose logits predict token t: (N, T) int64, -1 on padding and on each
  // sequence's first token (nothing precedes it). t - 1 in the padded and packed layouts; in
  // prompt-sharing the first rejected token is predicted from the last prompt position. Every
  // token with a predecessor has one, so losses over whole sequences (ORPO's NLL) can score the
  // prompt too; completion_mask picks the tokens the DPO family scores.
  at::Tensor logit_index;
  // Prompt-sharing only (undefined otherwise): the second sequence a shared prompt token belongs
  // to (its pair's rejected sequence), -1 elsewhere: (N, T) int64. Losses over whole sequences
  // and per-position statistics count a shared prompt token for both sequences of its pair.
  at::Tensor shared_sequence_index;
  int64_t num_sequences = 0;  // S: 2P for preference batches (chosen 0..P-1, rejected P..2P-1)
  int64_t num_pairs = 0;      // P (0 for SFT batches)
  int64_t real_tokens = 0;    // non-pad token positions, the ones computed
  int64_t shared_tokens = 0;  // prompt-sharing: prompt tokens computed once instead of twice
                              // (real_tokens + shared_tokens = the pairs' tokens, as unshared)
  std::vector<int64_t> example_indices;  // PreferenceExample::index per pair (or SftExample)
  // (S) each sequence's tokens, prompt + completion, whatever the layout (a shared prompt counts
  // for both sequences of its pair): what TRL's right-padded batch of the same examples holds.
  std::vector<int64_t> sequence_lengths;
};

// How wide the rows of a packed batch are.
struct RowWidth {
  enum class Kind {
    kOneRow,           // one row holding every sequence, in order
    kLongestSequence,  // rows as wide as the batch's longest sequence: a packed batch never
                       // computes more token positions than the padded one, and attention spans
                       // stay as short as there
    kAtMost,           // rows of at most `tokens` (a longer sequence gets a row of its own)
  };
  Kind kind = Kind::kOneRow;
  int64_t tokens = 0;  // kAtMost only

  static RowWidth one_row() { return {Kind::kOneRow, 0}; }
  static RowWidth longest_sequence() { return {Kind::kLongestSequence, 0}; }
  static RowWidth at_most(int64_t tokens) { return {Kind::kAtMost, tokens}; }
  // padding_free rows for a model's attention path: one row where packed rows run
  // variable-length attention (LlamaModel::packed_rows_use_varlen_attention: no mask, so the
  // row's width costs nothing and no position is padding), else the longest sequence.
  static RowWidth for_attention(bool varlen_attention) {
    return varlen_attention ? one_row() : longest_sequence();
  }
};

// Builders. Rows are built on the CPU; `.to(device)` is the caller's. Packed rows are `width`
// wide, filled first-fit, longest sequence first (one row holds all in order: chosen 0..P-1, then
// rejected); sequence_index keeps the order. Prompt-sharing (preference pairs only) places each
// pair's segment [prompt | chosen | rejected] the same way (one row: pairs in order), with
// branch_ids 0 / 1 / 2 and the rejected tokens' positions continuing from the prompt's length.
TokenBatch make_preference_batch(const std::vector<PreferenceExample>& pairs, BatchLayout layout,
                                 int64_t pad_token_id, RowWidth width = RowWidth::one_row());
TokenBatch make_sft_batch(const std::vector<SftExample>& examples, BatchLayout layout,
                          int64_t pad_token_id, RowWidth width = RowWidth::one_row());

// "padded", "packed" or "shared" (prompt sharing): the names dpo bench train --layout takes.
const char* batch_layout_name(BatchLayout layout);

// Moves every tensor of the batch to `device`.
TokenBatch to_device(const TokenBatch& batch, at::Device device);

}  // namespace dpo
