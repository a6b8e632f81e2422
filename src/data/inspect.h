// `dpo data inspect`: what a preference (or SFT) dataset looks like to the pipeline — detected
// format, rows, invalid rows by reason, token-length percentiles, what max_length would truncate or
// drop, and rendered examples with the prompt/completion boundary marked. Plain C++, no libtorch.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "data/pipeline.h"

namespace dpo {

struct LengthStats {
  int64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
};

// Nearest-rank percentiles of `lengths` (all 0 when empty).
LengthStats length_stats(std::vector<int64_t> lengths);

struct InspectResult {
  // Read with drop_invalid_rows (every bad row counted); its truncated/dropped/kept counts are
  // those of max_length and the truncation options given.
  DataReport report;
  bool sft = false;         // SFT data: `chosen` holds the completion lengths, `rejected` is empty
  std::string length_unit;  // "tokens", or "bytes" without a tokenizer
  LengthStats prompt, chosen, rejected;
  int64_t max_length = 0;
  std::string truncation_mode;
  int64_t truncated_rows = 0;  // with the given max_length / truncation_mode
  int64_t dropped_rows = 0;
  std::vector<std::string> examples;  // "PROMPT⟦▶⟧CHOSEN" renderings (decoded ids)
  std::vector<std::string> rejected_examples;
  // Unpaired (KTO) data: laid out as SFT's (sft true), with the label counts.
  bool unpaired = false;
  int64_t desirable = 0, undesirable = 0;
};

// `options.dataset` is inspected; max_length and truncation options are applied only to count.
InspectResult inspect_preference_data(const DataOptions& options, const TextEncoder& encoder,
                                      const ChatRenderer* renderer, int num_examples = 2);
InspectResult inspect_sft_data(const DataOptions& options, const TextEncoder& encoder,
                               const ChatRenderer* renderer, int num_examples = 2);
// The unpaired format (KTO): lengths as SFT's, and how many rows are desirable.
InspectResult inspect_unpaired_data(const DataOptions& options, const TextEncoder& encoder,
                                    const ChatRenderer* renderer, int num_examples = 2);

// True when `options.dataset_format` is an SFT format, or (auto) the first readable row has SFT
// keys (messages, prompt/completion, text) and no chosen/rejected. (Unpaired rows, which have a
// label, are is_unpaired_dataset's: check that first.)
bool is_sft_dataset(const DataOptions& options);

// Without a tokenizer: one "token" per byte, chat messages rendered as "role: content" lines.
TextEncoder byte_encoder();
ChatRenderer plain_chat_renderer();

std::string inspect_text(const InspectResult& result);
// {"format", "format_description", "rows", "kept_rows", "invalid_rows", "invalid_by_reason",
//  "truncated_rows", "dropped_rows", "identical_pairs", "boundary_mismatches", "max_length",
//  "length_unit", "lengths": {"prompt"|"chosen"|"rejected" (SFT: "prompt"|"completion"):
//  {"p50", "p90", "p99", "max"}}, "examples"}; unpaired data also "desirable", "undesirable"
nlohmann::ordered_json inspect_json(const InspectResult& result);

}  // namespace dpo
