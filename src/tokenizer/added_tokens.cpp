// Added-token matching (HF tokenizer/added_vocabulary.rs: find_matches).
#include "tokenizer/added_tokens.h"

#include <cctype>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace dpo::tok {
namespace {

// Rust's char::is_alphanumeric() || c == '_' for the character at text[i].
bool is_word_character(std::string_view text, size_t i, size_t length) {
  static const Regex word("^[\\p{Alphabetic}\\p{N}_]$", "word character class");
  unsigned char c = static_cast<unsigned char>(text[i]);
  if (c < 0x80) return std::isalnum(c) || c == '_';
  std::vector<ByteRange> matches;
  word.find_all(text.substr(i, length), matches);
  return !matches.empty();
}

size_t previous_char_start(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

bool ends_with_word(std::string_view text) {
  if (text.empty()) return false;
  size_t start = previous_char_start(text, text.size());
  return is_word_character(text, start, text.size() - start);
}

bool starts_with_word(std::string_view text) {
  if (text.empty()) return false;
  return is_word_character(text, 0, utf8_length(static_cast<unsigned char>(text[0])));
}

// Start of the whitespace run that ends `text`.
size_t space_leftmost_at_end(std::string_view text) {
  size_t leftmost = text.size();
  while (leftmost > 0) {
    size_t start = previous_char_start(text, leftmost);
    size_t length;
    if (!is_whitespace(decode_utf8(text, start, &length))) break;
    leftmost = start;
  }
  return leftmost;
}

// Length of the whitespace run that starts `text`.
size_t space_rightmost_at_start(std::string_view text) {
  size_t rightmost = 0;
  while (rightmost < text.size()) {
    size_t length;
    if (!is_whitespace(decode_utf8(text, rightmost, &length))) break;
    rightmost += length;
  }
  return rightmost;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<const AddedToken*>& tokens,
                              const std::vector<std::string>& patterns) {
  nodes_.assign(1, Node{});
  tokens_.clear();
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::string& pattern = patterns[t];
    if (pattern.empty()) continue;
    int32_t node = 0;
    for (unsigned char c : pattern) {
      int32_t next = -1;
      for (auto [byte, child] : nodes_[node].children)
        if (byte == c) next = child;
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_[node].children.emplace_back(c, next);
        nodes_.emplace_back();
      }
      node = next;
    }
    if (nodes_[node].token < 0) {  // the first token with this text wins
      nodes_[node].token = static_cast<int32_t>(tokens_.size());
      tokens_.push_back(tokens[t]);
    }
    first_byte_[static_cast<unsigned char>(pattern[0])] = true;
  }
}

std::pair<size_t, int32_t> AddedTokenMatcher::longest_at(std::string_view text, size_t pos) const {
  std::pair<size_t, int32_t> best{0, -1};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    int32_t next = -1;
    for (auto [byte, child] : nodes_[node].children)
      if (byte == c) next = child;
    if (next < 0) break;
    node = next;
    if (nodes_[node].token >= 0) best = {i + 1 - pos, nodes_[node].token};
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  if (text.empty()) return;
  size_t start_offset = 0;  // end of the previous segment
  for (size_t pos = 0; pos < text.size();) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    auto [length, index] = longest_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = *tokens_[index];
    size_t start = pos, stop = pos + length;
    pos = stop;  // the scan goes on after the raw match, as HF's iterator does
    if (token.single_word) {
      bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) start = std::max(space_leftmost_at_end(text.substr(0, start)), start_offset);
    if (token.rstrip) stop += space_rightmost_at_start(text.substr(stop));
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
}

}  // namespace dpo::tok
