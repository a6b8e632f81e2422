// Decoders (HF decoders/*.rs and the decode halves of pre_tokenizers/{byte_level,metaspace}.rs).
#include "tokenizer/decoders.h"

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace dpo::tok {
namespace {

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps)
      : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<ByteRange> matches;
    for (auto& token : tokens) {
      matches.clear();
      pattern_.find_all(token, matches);
      if (matches.empty()) continue;
      std::string out;
      size_t previous = 0;
      for (auto [begin, end] : matches) {
        out.append(token, previous, begin - previous);
        out += content_;
        previous = end;
      }
      out.append(token, previous, std::string::npos);
      token = std::move(out);
    }
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// Runs of <0xNN> tokens become their bytes: the UTF-8 text, or one U+FFFD per byte if invalid.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    auto flush = [&] {
      if (bytes.empty()) return;
      if (is_valid_utf8_fast(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t i = 0; i < bytes.size(); ++i) out.push_back("\xEF\xBF\xBD");
      }
      bytes.clear();
    };
    for (auto& token : tokens) {
      int byte = parse_byte_token(token);
      if (byte >= 0) {
        bytes += static_cast<char>(byte);
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int parse_byte_token(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
    int value = 0;
    for (int k = 3; k < 5; ++k) {
      char c = token[k];
      int digit = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : -1;
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    return value;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const auto& token : tokens) joined += token;
    tokens.assign(1, std::move(joined));
  }
};

// Removes up to `start` leading and `stop` trailing `content` characters of every token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& token : tokens) {
      size_t begin = 0, end = token.size();
      for (size_t k = 0; k < start_ && begin + content_.size() <= end &&
                         token.compare(begin, content_.size(), content_) == 0;
           ++k)
        begin += content_.size();
      for (size_t k = 0; k < stop_ && end >= begin + content_.size() &&
                         token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++k)
        end -= content_.size();
      token = token.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

// Byte-level characters back to bytes; tokens that are not byte-level pass as they are; the whole
// result is repaired to valid UTF-8 (U+FFFD), like String::from_utf8_lossy.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes, piece;
    for (const auto& token : tokens) {
      if (byte_level_to_bytes(token, &piece))
        bytes += piece;
      else
        bytes += token;
    }
    tokens.assign(1, to_valid_utf8(bytes));
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& token = tokens[i];
      for (size_t pos = 0; pos < token.size();) {
        if (token.compare(pos, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && strip_first_)) out += ' ';
          pos += replacement_.size();
        } else {
          out += token[pos++];
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;  // prepend_scheme != never: the first token loses its replacement chars
};

size_t non_negative(const JsonNode& node, const std::string& key) {
  int64_t value = node.get_int(key, 0);
  if (value < 0) throw_invalid(node, key, "an integer >= 0");
  return static_cast<size_t>(value);
}

}  // namespace

std::unique_ptr<Decoder> make_decoder(const JsonNode& node) {
  if (node.value.is_null()) return nullptr;
  std::string type = node.get_string("type");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> steps;
    JsonNode list = node.at("decoders");
    if (!list.value.is_array()) throw_invalid(node, "decoders", "an array");
    for (size_t i = 0; i < list.value.size(); ++i) {
      auto step = make_decoder(list.at(i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  if (type == "Replace")
    return std::make_unique<ReplaceDecoder>(read_pattern(node), node.get_string("content"));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(node.get_char("content", " "),
                                          non_negative(node, "start"), non_negative(node, "stop"));
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    std::string scheme = node.get_string("prepend_scheme", "");
    bool strip_first = scheme.empty() ? node.get_bool("add_prefix_space", true) : scheme != "never";
    if (!scheme.empty() && scheme != "always" && scheme != "first" && scheme != "never")
      throw_unsupported(node, "prepend_scheme");
    return std::make_unique<MetaspaceDecoder>(node.get_char("replacement", "\u2581"), strip_first);
  }
  throw_unsupported(node, "type");
}

}  // namespace dpo::tok
