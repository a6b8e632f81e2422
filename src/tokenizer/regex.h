// PCRE2 (UTF + UCP, JIT-compiled) regular expressions for Split pre-tokenizers and Replace.
// Patterns are used exactly as written in tokenizer.json.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dpo::tok {

using ByteRange = std::pair<size_t, size_t>;  // [begin, end) in bytes

class Regex {
 public:
  // `where` names the JSON path for the error message of a pattern PCRE2 rejects. With
  // `oniguruma`, the pattern is read as Oniguruma (what HF tokenizers compiles it with) reads it:
  // see oniguruma_to_pcre2.
  Regex(const std::string& pattern, const std::string& where, bool oniguruma = false);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Every non-overlapping match, left to right (an empty match advances one character), in
  // `subject`, which must be valid UTF-8. Appends to `matches`.
  void find_all(std::string_view subject, std::vector<ByteRange>& matches) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code*
  bool jit_ = false;
};

// Rewrites the shorthands whose meaning differs between Oniguruma (Unicode) and PCRE2 (UTF+UCP):
// \s = [\t-\r\x{85}\p{Z}] (PCRE2 adds U+180E), \S its complement outside classes, \h = hex digit
// (PCRE2: horizontal space), \H its complement. Everything else is passed through.
std::string oniguruma_to_pcre2(const std::string& pattern);

// Escapes `literal` so that it matches itself in a PCRE2 pattern.
std::string regex_escape(std::string_view literal);

}  // namespace dpo::tok

#include "tokenizer/json_path.h"

namespace dpo::tok {

// The "pattern" of Replace and Split: {"String": "..."} (literal) or {"Regex": "..."}.
struct Pattern {
  std::string literal;
  std::unique_ptr<Regex> regex;  // set for {"Regex": ...}
  // Non-overlapping matches, left to right.
  void find_all(std::string_view subject, std::vector<ByteRange>& matches) const;
};
Pattern read_pattern(const JsonNode& node);  // node holds "pattern"

}  // namespace dpo::tok
