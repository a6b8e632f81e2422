#include "data/prompt.h"

#include <algorithm>

namespace dpo {

namespace {

bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Moves `offset` back to the start of the UTF-8 character it falls in.
size_t to_char_boundary(const std::string& text, size_t offset) {
  while (offset > 0 && offset < text.size() && is_continuation_byte(text[offset])) --offset;
  return offset;
}

// Start of the last character of text[0, end).
size_t previous_char(const std::string& text, size_t end) {
  if (end == 0) return 0;
  size_t offset = end - 1;
  while (offset > 0 && is_continuation_byte(text[offset])) --offset;
  return offset;
}

}  // namespace

SplitText extract_text_prompt(const std::string& chosen, const std::string& rejected) {
  size_t shared = std::min(chosen.size(), rejected.size());
  size_t first_difference = 0;
  while (first_difference < shared && chosen[first_difference] == rejected[first_difference])
    ++first_difference;
  size_t cut = 0;
  if (first_difference < shared) {
    cut = to_char_boundary(chosen, first_difference);
    if (cut > 0 && chosen[cut - 1] == ' ') --cut;
  } else {
    cut = previous_char(chosen, shared);  // one is a prefix of the other
  }
  return {chosen.substr(0, cut), chosen.substr(cut), rejected.substr(cut)};
}

SplitMessages extract_message_prompt(const RowJson& chosen, const RowJson& rejected) {
  size_t shared = std::min(chosen.size(), rejected.size());
  size_t cut = 0;
  while (cut < shared && chosen[cut] == rejected[cut]) ++cut;
  if (cut == shared && shared > 0) --cut;  // one is a prefix of the other (TRL)
  auto slice = [](const RowJson& list, size_t begin, size_t end) {
    RowJson out = RowJson::array();
    for (size_t i = begin; i < end; ++i) out.push_back(list[i]);
    return out;
  };
  return {slice(chosen, 0, cut), slice(chosen, cut, chosen.size()),
          slice(rejected, cut, rejected.size())};
}

}  // namespace dpo
