// Anthropic HH-RLHF rows: chosen and rejected are whole dialogues of "\n\nHuman: ..." and
// "\n\nAssistant: ..." turns that differ only in the last assistant turn.
// Plain C++, no libtorch.
#pragma once
#include "data/reader.h"

#include <string>

namespace dpo {

inline constexpr const char* kHhHuman = "\n\nHuman:";
inline constexpr const char* kHhAssistant = "\n\nAssistant:";

struct HhSplit {
  std::string prompt;      // everything up to and including the last "\n\nAssistant:"
  std::string completion;  // the rest (usually starts with a space)
};

// Splits one dialogue at its last "\n\nAssistant:"; the prompt keeps the marker, so a first word
// both answers share stays in the completions. InvalidRow ("not HH text") naming `where` and
// `field` when the text has no "\n\nAssistant:".
HhSplit split_hh(const std::string& text, const std::string& where, const std::string& field);

// The turns as chat messages: Human -> "user", Assistant -> "assistant", content trimmed of the
// surrounding whitespace. InvalidRow when text other than whitespace precedes the first turn
// ("not HH text") or turns do not alternate ("roles do not alternate").
RowJson hh_to_messages(const std::string& text, const std::string& where, const std::string& field);

}  // namespace dpo
