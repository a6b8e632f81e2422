// Added tokens (special and not) of tokenizer.json: found in the text before anything else,
// leftmost-longest as Hugging Face's AddedVocabulary does, with single_word, lstrip and rstrip.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dpo::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// A piece of text: either an added token (id >= 0) or plain text to tokenize (id = -1).
struct Segment {
  size_t begin, end;  // bytes in the text given to split()
  int32_t id;
};

// Leftmost-longest matcher over a set of added tokens (a byte trie).
class AddedTokenMatcher {
 public:
  // `patterns[i]` is the string to look for (content, or its normalized form) of `tokens[i]`.
  void build(const std::vector<const AddedToken*>& tokens,
             const std::vector<std::string>& patterns);
  bool empty() const { return tokens_.empty(); }
  // Cuts `text` into segments covering it (an empty text gives no segment).
  void split(std::string_view text, std::vector<Segment>& out) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1;  // index into tokens_ when a pattern ends here
  };
  // Longest pattern starting at text[pos]: its length and token index (-1 if none).
  std::pair<size_t, int32_t> longest_at(std::string_view text, size_t pos) const;
  std::vector<Node> nodes_;
  std::vector<const AddedToken*> tokens_;
  bool first_byte_[256] = {};
};

}  // namespace dpo::tok
