// Implicit prompts: the prompt shared by chosen and rejected, as TRL's extract_prompt.
// Plain C++, no libtorch.
#pragma once
#include "data/reader.h"

#include <string>

namespace dpo {

struct SplitText {
  std::string prompt, chosen, rejected;
};

// Text: the prompt is the longest common prefix, cut back to a UTF-8 character boundary; when the
// character before the first difference is a space, that space goes to the completions (TRL).
// When one text is a prefix of the other, the prompt stops one character before the end of the
// shorter one (TRL's loop leaves its index on the last shared character). Unlike TRL, a
// difference at the very first character gives an empty prompt (TRL's index -1 would wrap).
SplitText extract_text_prompt(const std::string& chosen, const std::string& rejected);

struct SplitMessages {
  RowJson prompt, chosen, rejected;  // arrays of messages
};

// Messages: the prompt is the longest run of equal leading messages (same rule at the end).
SplitMessages extract_message_prompt(const RowJson& chosen, const RowJson& rejected);

}  // namespace dpo
