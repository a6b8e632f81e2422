#include "data/truncate.h"

#include <algorithm>

#include "util/error.h"

namespace dpo {

TruncationMode parse_truncation_mode(const std::string& name) {
  if (name == "keep_start") return TruncationMode::kKeepStart;
  if (name == "keep_end") return TruncationMode::kKeepEnd;
  throw_user_error("truncation_mode: unknown mode '{}' (expected keep_start or keep_end)", name);
}

std::string truncation_mode_name(TruncationMode mode) {
  return mode == TruncationMode::kKeepStart ? "keep_start" : "keep_end";
}

namespace {

bool keep_first(TokenIds& ids, int64_t count) {
  if (static_cast<int64_t>(ids.size()) <= count) return false;
  ids.resize(static_cast<size_t>(count));
  return true;
}

bool keep_last(TokenIds& ids, int64_t count) {
  if (static_cast<int64_t>(ids.size()) <= count) return false;
  ids.erase(ids.begin(), ids.end() - count);
  return true;
}

int64_t size_of(const TokenIds& ids) {
  return static_cast<int64_t>(ids.size());
}

// Steps 1-2 and 3 for any number of completions sharing one prompt.
TruncationResult truncate_shared(TokenIds& prompt, std::initializer_list<TokenIds*> completions,
                                 const TruncationOptions& options) {
  bool truncated = false;
  if (options.max_prompt_length > 0) truncated |= keep_last(prompt, options.max_prompt_length);
  if (options.max_completion_length > 0)
    for (TokenIds* completion : completions)
      truncated |= keep_first(*completion, options.max_completion_length);
  const int64_t max_length = options.max_length;
  if (max_length <= 0)
    return truncated ? TruncationResult::kTruncated : TruncationResult::kUnchanged;
  if (options.mode == TruncationMode::kKeepStart) {
    if (size_of(prompt) >= max_length) return TruncationResult::kDropped;
    for (TokenIds* completion : completions)
      truncated |= keep_first(*completion, max_length - size_of(prompt));
  } else {
    int64_t longest = 0;
    for (TokenIds* completion : completions) longest = std::max(longest, size_of(*completion));
    int64_t excess = size_of(prompt) + longest - max_length;
    if (excess > 0) {
      truncated = true;
      keep_last(prompt, std::max<int64_t>(0, size_of(prompt) - excess));
      for (TokenIds* completion : completions) keep_last(*completion, max_length - size_of(prompt));
    }
  }
  return truncated ? TruncationResult::kTruncated : TruncationResult::kUnchanged;
}

}  // namespace

TruncationResult truncate_example(PreferenceExample& example, const TruncationOptions& options) {
  return truncate_shared(example.prompt_ids, {&example.chosen_ids, &example.rejected_ids}, options);
}

TruncationResult truncate_example(SftExample& example, const TruncationOptions& options) {
  return truncate_shared(example.prompt_ids, {&example.completion_ids}, options);
}

TruncationResult truncate_example(UnpairedExample& example, const TruncationOptions& options) {
  return truncate_shared(example.prompt_ids, {&example.completion_ids}, options);
}

}  // namespace dpo
