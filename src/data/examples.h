// Tokenized examples: the output of the data pipeline before batching. Plain C++ (no libtorch).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dpo {

// One preference pair after tokenization and truncation. Sequence = prompt_ids + completion ids;
// the completions already end with EOS (TRL's rules, DESIGN.md).
struct PreferenceExample {
  TokenIds prompt_ids;
  TokenIds chosen_ids;
  TokenIds rejected_ids;
  int64_t index = 0;  // position in the dataset (reference-cache key, per-example output)
};

// One SFT example: loss on completion_ids (or on every token when completion-only is off,
// which the pipeline expresses by an empty prompt_ids).
struct SftExample {
  TokenIds prompt_ids;
  TokenIds completion_ids;
  int64_t index = 0;
};

// One unpaired example (KTO): a completion and whether it is desirable. Untruncated when the
// trainer truncates later (train/kto_data.h: KTO's KL completions come from whole completions).
struct UnpairedExample {
  TokenIds prompt_ids;
  TokenIds completion_ids;
  bool label = false;
  int64_t index = 0;
};

}  // namespace dpo
