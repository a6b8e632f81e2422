// Pre-tokenizers, each as Hugging Face tokenizers defines it (pre_tokenizers/*.rs).
#include "tokenizer/pre_tokenizers.h"

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace dpo::tok {
namespace {

// A piece of a word: [begin, end) and whether it was matched by the pattern.
struct Piece {
  size_t begin, end;
  bool is_match;
};

// Matches -> pieces covering the whole text (HF Pattern::find_matches).
std::vector<Piece> pieces_from_matches(size_t size, const std::vector<ByteRange>& matches) {
  std::vector<Piece> pieces;
  if (size == 0) return pieces;
  pieces.reserve(matches.size() * 2 + 1);
  size_t previous = 0;
  for (auto [begin, end] : matches) {
    if (previous != begin) pieces.push_back({previous, begin, false});
    pieces.push_back({begin, end, true});
    previous = end;
  }
  if (previous != size) pieces.push_back({previous, size, false});
  return pieces;
}

// Groups pieces as `behavior` says (HF NormalizedString::split) and appends the non-empty
// results to `out`.
void split_word(const Word& word, std::vector<Piece> pieces, SplitBehavior behavior, bool invert,
                Words& out) {
  if (invert)
    for (auto& piece : pieces) piece.is_match = !piece.is_match;
  std::vector<Piece> groups;  // is_match here means "remove"
  groups.reserve(pieces.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::removed:
      groups = pieces;
      break;
    case SplitBehavior::isolated:
      for (const auto& piece : pieces) groups.push_back({piece.begin, piece.end, false});
      break;
    case SplitBehavior::contiguous:
      for (const auto& piece : pieces) {
        if (piece.is_match == previous_match && !groups.empty())
          groups.back().end = piece.end;
        else
          groups.push_back({piece.begin, piece.end, false});
        previous_match = piece.is_match;
      }
      break;
    case SplitBehavior::merged_with_previous:
      for (const auto& piece : pieces) {
        if (piece.is_match && !previous_match && !groups.empty())
          groups.back().end = piece.end;
        else
          groups.push_back({piece.begin, piece.end, false});
        previous_match = piece.is_match;
      }
      break;
    case SplitBehavior::merged_with_next:
      for (size_t k = pieces.size(); k-- > 0;) {
        const auto& piece = pieces[k];
        if (piece.is_match && !previous_match && !groups.empty())
          groups.back().begin = piece.begin;
        else
          groups.push_back({piece.begin, piece.end, false});
        previous_match = piece.is_match;
      }
      std::reverse(groups.begin(), groups.end());
      break;
  }
  for (const auto& group : groups) {
    if (group.is_match || group.end == group.begin) continue;
    out.push_back({word.text.substr(group.begin, group.end - group.begin),
                   word.at_start && group.begin == 0, word.byte_level});
  }
}

// Applies `split_one` to every word, replacing `words` with the results.
template <typename F>
void for_each_word(Words& words, F&& split_one) {
  Words out;
  out.reserve(words.size() * 2);
  for (auto& word : words) {
    if (word.byte_level) materialize_byte_level(word);
    split_one(word, out);
  }
  words = std::move(out);
}

// Splits with a regex matcher (also used for single-character classes).
void regex_split(Words& words, const Regex& regex, SplitBehavior behavior, bool invert) {
  std::vector<ByteRange> matches;
  for_each_word(words, [&](const Word& word, Words& out) {
    matches.clear();
    regex.find_all(word.text, matches);
    split_word(word, pieces_from_matches(word.text.size(), matches), behavior, invert, out);
  });
}

SplitBehavior read_behavior(const JsonNode& node, const std::string& fallback) {
  std::string name = node.get_string("behavior", fallback);
  if (name == "Removed") return SplitBehavior::removed;
  if (name == "Isolated") return SplitBehavior::isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::merged_with_previous;
  if (name == "MergedWithNext") return SplitBehavior::merged_with_next;
  if (name == "Contiguous") return SplitBehavior::contiguous;
  throw_unsupported(node, "behavior");
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(Words& words) const override {
    std::vector<ByteRange> matches;
    for_each_word(words, [&](const Word& word, Words& out) {
      matches.clear();
      pattern_.find_all(word.text, matches);
      split_word(word, pieces_from_matches(word.text.size(), matches), behavior_, invert_, out);
    });
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// A fixed regex with a fixed behavior (Whitespace, WhitespaceSplit, Digits, Punctuation).
class RegexPreTokenizer : public PreTokenizer {
 public:
  RegexPreTokenizer(const std::string& pattern, SplitBehavior behavior, bool invert)
      : regex_(pattern, "built-in pre-tokenizer pattern"), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(Words& words) const override { regex_split(words, regex_, behavior_, invert_); }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// GPT-2's pattern, used by ByteLevel with use_regex.
const char* const kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(kGpt2Pattern, "ByteLevel pattern", true);
  }
  void pre_tokenize(Words& words) const override {
    if (add_prefix_space_) {
      for (auto& word : words) {
        if (word.byte_level) materialize_byte_level(word);
        if (word.text.empty() || word.text[0] != ' ') word.text.insert(0, " ");
      }
    }
    if (regex_) regex_split(words, *regex_, SplitBehavior::isolated, false);
    for (auto& word : words) {
      if (word.byte_level) materialize_byte_level(word);
      word.byte_level = true;  // the byte -> character mapping happens lazily in the model
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class PrependScheme { always, first, never };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)),
        scheme_(scheme),
        split_(split),
        split_regex_(regex_escape(replacement_), "Metaspace replacement") {}
  void pre_tokenize(Words& words) const override {
    std::vector<ByteRange> matches;
    for_each_word(words, [&](Word& word, Words& out) {
      std::string replaced;
      replaced.reserve(word.text.size() + replacement_.size());
      for (char c : word.text) {
        if (c == ' ')
          replaced += replacement_;
        else
          replaced += c;
      }
      bool starts = replaced.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts &&
          (scheme_ == PrependScheme::always || (scheme_ == PrependScheme::first && word.at_start)))
        replaced.insert(0, replacement_);
      Word rewritten{std::move(replaced), word.at_start, false};
      if (!split_) {
        if (!rewritten.text.empty()) out.push_back(std::move(rewritten));
        return;
      }
      matches.clear();
      split_regex_.find_all(rewritten.text, matches);
      split_word(rewritten, pieces_from_matches(rewritten.text.size(), matches),
                 SplitBehavior::merged_with_next, false, out);
    });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
  Regex split_regex_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  void pre_tokenize(Words& words) const override {
    for (const auto& step : steps_) step->pre_tokenize(words);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

std::unique_ptr<PreTokenizer> make_metaspace(const JsonNode& node) {
  std::string replacement = node.get_char("replacement", "\u2581");
  PrependScheme scheme = PrependScheme::always;
  if (node.has("prepend_scheme")) {
    std::string name = node.get_string("prepend_scheme");
    if (name == "always")
      scheme = PrependScheme::always;
    else if (name == "first")
      scheme = PrependScheme::first;
    else if (name == "never")
      scheme = PrependScheme::never;
    else
      throw_unsupported(node, "prepend_scheme");
  } else if (node.has("add_prefix_space")) {  // older files
    scheme = node.get_bool("add_prefix_space", true) ? PrependScheme::always : PrependScheme::never;
  }
  return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, node.get_bool("split", true));
}

}  // namespace

void materialize_byte_level(Word& word) {
  word.text = bytes_to_byte_level(word.text);
  word.byte_level = false;
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const JsonNode& node) {
  if (node.value.is_null()) return nullptr;
  std::string type = node.get_string("type");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    JsonNode list = node.at("pretokenizers");
    if (!list.value.is_array()) throw_invalid(node, "pretokenizers", "an array");
    for (size_t i = 0; i < list.value.size(); ++i) {
      auto step = make_pre_tokenizer(list.at(i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "Split")
    return std::make_unique<SplitPreTokenizer>(read_pattern(node), read_behavior(node, "Isolated"),
                                               node.get_bool("invert", false));
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(node.get_bool("add_prefix_space", true),
                                                   node.get_bool("use_regex", true));
  if (type == "Metaspace") return make_metaspace(node);
  if (type == "Whitespace")  // keep \w+ and [^\w\s]+, drop the rest
    return std::make_unique<RegexPreTokenizer>("\\w+|[^\\w\\s]+", SplitBehavior::removed, true);
  if (type == "WhitespaceSplit")
    return std::make_unique<RegexPreTokenizer>(
        "[\\t-\\r "
        "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]",
        SplitBehavior::removed, false);
  if (type == "Digits")
    return std::make_unique<RegexPreTokenizer>("\\p{N}",
                                               node.get_bool("individual_digits", false)
                                                   ? SplitBehavior::isolated
                                                   : SplitBehavior::contiguous,
                                               false);
  if (type == "Punctuation")
    return std::make_unique<RegexPreTokenizer>("[\\p{P}!-/:-@\\[-`{-~]",
                                               read_behavior(node, "Isolated"), false);
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    steps.push_back(
        make_pre_tokenizer(JsonNode{json{{"type", "WhitespaceSplit"}}, node.path, node.source}));
    steps.push_back(std::make_unique<RegexPreTokenizer>("[\\p{P}!-/:-@\\[-`{-~]",
                                                        SplitBehavior::isolated, false));
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  throw_unsupported(node, "type");
}

}  // namespace dpo::tok
