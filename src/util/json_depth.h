// One nesting limit for every JSON text dpo reads (datasets, tokenizer.json, tokenizer_config.json,
// config.json, adapter_config.json, metrics, trainer state, safetensors headers): deeper input is
// refused with a clear error instead of exhausting the stack in code that walks it recursively.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace dpo {

// Arrays and objects inside each other. Real files nest a few levels (tokenizer.json about 6);
// Hugging Face's tokenizers (serde_json) stop at 128, Python's json near 1000.
inline constexpr size_t kMaxJsonDepth = 512;

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count),
// counting no further than `limit` + 1.
size_t json_nesting_depth(std::string_view text, size_t limit = kMaxJsonDepth);

// The message for a text nested deeper than kMaxJsonDepth, or "" when it is not.
std::string json_depth_problem(std::string_view text);

// UserError "SOURCE: JSON nested deeper than 512 levels ..." when `text` is.
void check_json_depth(std::string_view text, const std::string& source);

}  // namespace dpo
