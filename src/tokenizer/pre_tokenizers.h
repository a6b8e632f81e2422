// Pre-tokenizers of tokenizer.json: Split (PCRE2), ByteLevel, Metaspace, Whitespace,
// WhitespaceSplit, Digits, Punctuation, BertPreTokenizer, Sequence. They cut a normalized segment
// into words that the model encodes one by one.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_path.h"

namespace dpo::tok {

struct Word {
  std::string text;
  bool at_start = false;    // begins at offset 0 of the original input (Metaspace "first")
  bool byte_level = false;  // text holds raw bytes that stand for GPT-2 byte-level characters
};
using Words = std::vector<Word>;

// How a Split keeps its matches (HF SplitDelimiterBehavior).
enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Rewrites `words` (each word may become several; empty ones are dropped).
  virtual void pre_tokenize(Words& words) const = 0;
};

// nullptr for a JSON null; UserError naming the path for anything unsupported.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const JsonNode& node);

// Turns a lazily byte-level word into its byte-level characters (for steps that need text).
void materialize_byte_level(Word& word);

}  // namespace dpo::tok
