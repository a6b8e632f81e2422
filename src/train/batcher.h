// How a run turns examples into batches, decided once from the model and the config: the
// layout, the width of packed rows, the pad token and the device. Training steps, the reference
// pass, evaluation and `dpo eval` all batch through one Batcher.
#pragma once
#include <cstdint>
#include <vector>

#include "data/batch.h"
#include "data/examples.h"
#include "io/model_config.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "train/reference.h"

namespace dpo {

// A batch of tokens and which examples it holds.
struct MicroBatch {
  TokenBatch tokens;
  BatchRows rows;
};

class Batcher {
 public:
  // padding_free: packed rows (data/batch.h), as wide as the model's attention path makes
  // cheapest; else TRL's right-padded rows. prompt_sharing (with padding_free): a pair's prompt
  // is laid out once, its chosen and rejected completions both attending to it
  // (BatchLayout::kPromptSharing); SFT examples are packed either way. Batches go to the
  // model's device.
  Batcher(const LlamaModel& model, bool padding_free, bool prompt_sharing, int64_t pad_token_id);

  TokenBatch preference(const std::vector<PreferenceExample>& pairs) const;
  TokenBatch sft(const std::vector<SftExample>& examples) const;
  // The examples of `rows.split` at `rows.positions` (indices into `all`).
  MicroBatch preference(const std::vector<PreferenceExample>& all, BatchRows rows) const;
  MicroBatch sft(const std::vector<SftExample>& all, BatchRows rows) const;

  // The layout of preference batches (SFT batches are packed or padded, never shared).
  BatchLayout layout() const { return preference_layout_; }
  int64_t pad_token_id() const { return pad_token_id_; }

 private:
  BatchLayout preference_layout_;
  BatchLayout sft_layout_;
  RowWidth preference_width_;
  RowWidth sft_width_;
  int64_t pad_token_id_;
  at::Device device_;
};

// The pad token, as TRL picks it: the tokenizer's pad token, else its eos token (TRL sets
// pad_token = eos_token); without a tokenizer, the model config's pad, else its eos, else 0.
int64_t pad_token_for(const Tokenizer* tokenizer, const ModelConfig& config);

}  // namespace dpo
