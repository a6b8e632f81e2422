// Truncation of tokenized examples (TRL's rules; plain C++, no libtorch), in this order:
//   1. max_prompt_length: the prompt keeps its LAST max_prompt_length tokens (the text nearest
//      the answer).
//   2. max_completion_length: each completion keeps its FIRST max_completion_length tokens.
//   3. max_length bounds prompt + completion, per sequence:
//      keep_start: a row whose prompt alone has >= max_length tokens is dropped (it would leave no
//        completion token; TRL drops it too); otherwise each completion keeps its first
//        max_length - len(prompt) tokens.
//      keep_end: the end of each sequence is kept. The prompt is shared by chosen and rejected, so
//        it loses as many leading tokens as the longer sequence needs (TRL cuts each sequence on
//        its own; the shorter one may keep a few more prompt tokens there); a completion longer
//        than max_length keeps its last max_length tokens. Nothing is dropped.
// A value of 0 means "no limit".
#pragma once
#include <cstdint>
#include <string>

#include "data/examples.h"

namespace dpo {

enum class TruncationMode { kKeepStart, kKeepEnd };

// "keep_start" | "keep_end"; UserError listing both otherwise.
TruncationMode parse_truncation_mode(const std::string& name);
std::string truncation_mode_name(TruncationMode mode);

struct TruncationOptions {
  int64_t max_length = 1024;
  int64_t max_prompt_length = 0;
  int64_t max_completion_length = 0;
  TruncationMode mode = TruncationMode::kKeepStart;
};

enum class TruncationResult { kUnchanged, kTruncated, kDropped };

// Truncates in place; kDropped leaves the example unspecified (the caller discards it).
TruncationResult truncate_example(PreferenceExample& example, const TruncationOptions& options);
// SFT: one completion (prompt_ids may be empty).
TruncationResult truncate_example(SftExample& example, const TruncationOptions& options);
// Unpaired (KTO): one completion, as SFT.
TruncationResult truncate_example(UnpairedExample& example, const TruncationOptions& options);

}  // namespace dpo
