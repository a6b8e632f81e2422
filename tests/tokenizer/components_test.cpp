// Unit tests of the tokenizer components against values from Hugging Face tokenizers / Python's
// unicodedata: normalizers, pre-tokenizers (Split behaviors, Metaspace schemes, ByteLevel),
// decoders, and the Oniguruma -> PCRE2 regex reading.
#include <gtest/gtest.h>

#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace dpo::tok {
namespace {

const std::string kSource = "tokenizer.json";

std::string normalize(const json& config, std::string text) {
  auto normalizer = make_normalizer(JsonNode{config, "normalizer", kSource});
  normalizer->normalize(text);
  return text;
}

std::vector<std::string> pre_tokenize(const json& config, const std::string& text,
                                      bool at_start = true) {
  auto pre = make_pre_tokenizer(JsonNode{config, "pre_tokenizer", kSource});
  Words words{{text, at_start, false}};
  pre->pre_tokenize(words);
  std::vector<std::string> out;
  for (auto& word : words) {
    if (word.byte_level) materialize_byte_level(word);
    out.push_back(word.text);
  }
  return out;
}

std::vector<std::string> decode_chain(const json& config, std::vector<std::string> tokens) {
  make_decoder(JsonNode{config, "decoder", kSource})->decode_chain(tokens);
  return tokens;
}

TEST(Unicode, NormalFormsMatchPython) {
  struct Case {
    std::string input, nfc, nfd, nfkc, nfkd;
  };
  const Case cases[] = {
      {"e\u0301", "\u00e9", "e\u0301", "\u00e9", "e\u0301"},
      {"\ufb01", "\ufb01", "\ufb01", "fi", "fi"},
      {"\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8"},
      {"A\u030a\u0327", "\u00c5\u0327", "A\u0327\u030a", "\u00c5\u0327", "A\u0327\u030a"},
      {"\u212b", "\u00c5", "A\u030a", "\u00c5", "A\u030a"},
      {"x\u0323\u0307", "\u1e8b\u0323", "x\u0323\u0307", "\u1e8b\u0323", "x\u0323\u0307"},
      {"\u1e0b\u0323", "\u1e0d\u0307", "d\u0323\u0307", "\u1e0d\u0307", "d\u0323\u0307"},
      {"\uff21\uff11\u00b2", "\uff21\uff11\u00b2", "\uff21\uff11\u00b2", "A12", "A12"},
      {"plain ascii", "plain ascii", "plain ascii", "plain ascii", "plain ascii"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(normalize_unicode(c.input, NormalForm::nfc), c.nfc);
    EXPECT_EQ(normalize_unicode(c.input, NormalForm::nfd), c.nfd);
    EXPECT_EQ(normalize_unicode(c.input, NormalForm::nfkc), c.nfkc);
    EXPECT_EQ(normalize_unicode(c.input, NormalForm::nfkd), c.nfkd);
  }
}

TEST(Unicode, LowercaseIsPerCharacter) {
  // Rust's char::to_lowercase: no final-sigma rule; U+0130 becomes "i\u0307".
  EXPECT_EQ(lowercase("\u00c0\u00c9\u00ce \u0130 \u03a3\u0391\u03a3 ABC"),
            "\u00e0\u00e9\u00ee i\u0307 \u03c3\u03b1\u03c3 abc");
}

TEST(Unicode, LossyRepairLikePython) {
  // b"a\xffb\xe2\x82c\xf0\x9f\x98".decode("utf-8", "replace") == "a\ufffdb\ufffdc\ufffd"
  EXPECT_EQ(to_valid_utf8("a\xff"
                          "b\xe2\x82"
                          "c\xf0\x9f\x98"),
            "a\ufffd"
            "b\ufffd"
            "c\ufffd");
  // Surrogates and overlongs: each byte of an ill-formed lead is its own U+FFFD.
  EXPECT_EQ(to_valid_utf8("\xed\xa0\x80"), "\ufffd\ufffd\ufffd");
  EXPECT_EQ(to_valid_utf8("\xc0\xaf"), "\ufffd\ufffd");
  EXPECT_EQ(to_valid_utf8("ok \u00e9\U0001F600"), "ok \u00e9\U0001F600");
}

TEST(Unicode, ByteLevelMapIsGpt2) {
  EXPECT_EQ(bytes_to_byte_level(" \n\t!"), "\u0120\u010a\u0109!");
  std::string back;
  ASSERT_TRUE(byte_level_to_bytes("\u0120world\u010a", &back));
  EXPECT_EQ(back, " world\n");
  EXPECT_FALSE(byte_level_to_bytes("\u4e2d", &back));
}

TEST(Normalizers, SequencePrependReplace) {
  json config = json::parse(R"({"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]})");
  EXPECT_EQ(normalize(config, "Hello world"), "\u2581Hello\u2581world");
  EXPECT_EQ(normalize(config, ""), "");  // Prepend skips empty text
}

TEST(Normalizers, RegexReplaceStripLowercaseNfkc) {
  EXPECT_EQ(
      normalize(json::parse(R"({"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "})"),
                "a \t\n b\u3000c"),
      "a b c");
  EXPECT_EQ(normalize(json::parse(R"({"type": "Strip", "strip_left": true, "strip_right": false})"),
                      " \u3000x "),
            "x ");
  EXPECT_EQ(normalize(json::parse(R"({"type": "Lowercase"})"), "HeLLo \u00c9"), "hello \u00e9");
  EXPECT_EQ(normalize(json::parse(R"({"type": "NFKC"})"), "\ufb01\u00b2"), "fi2");
}

TEST(PreTokenizers, SplitBehaviors) {
  auto split = [](const std::string& behavior, bool invert) {
    json config = {{"type", "Split"},
                   {"pattern", {{"String", "-"}}},
                   {"behavior", behavior},
                   {"invert", invert}};
    return pre_tokenize(config, "a-b--c-");
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Isolated", false), (V{"a", "-", "b", "-", "-", "c", "-"}));
  EXPECT_EQ(split("Removed", false), (V{"a", "b", "c"}));
  EXPECT_EQ(split("MergedWithPrevious", false), (V{"a-", "b-", "-", "c-"}));
  EXPECT_EQ(split("MergedWithNext", false), (V{"a", "-b", "-", "-c", "-"}));
  EXPECT_EQ(split("Contiguous", false), (V{"a", "-", "b", "--", "c", "-"}));
  EXPECT_EQ(split("Removed", true), (V{"-", "-", "-", "-"}));
}

TEST(PreTokenizers, MetaspaceSchemes) {
  using V = std::vector<std::string>;
  json always = {{"type", "Metaspace"},
                 {"replacement", "\u2581"},
                 {"prepend_scheme", "always"},
                 {"split", true}};
  EXPECT_EQ(pre_tokenize(always, "Hey friend  x"),
            (V{"\u2581Hey", "\u2581friend", "\u2581", "\u2581x"}));
  json first = {{"type", "Metaspace"},
                {"replacement", "\u2581"},
                {"prepend_scheme", "first"},
                {"split", false}};
  EXPECT_EQ(pre_tokenize(first, "Hey friend", true), (V{"\u2581Hey\u2581friend"}));
  EXPECT_EQ(pre_tokenize(first, "Hey friend", false), (V{"Hey\u2581friend"}));
  json never = {{"type", "Metaspace"},
                {"replacement", "\u2581"},
                {"prepend_scheme", "never"},
                {"split", true}};
  EXPECT_EQ(pre_tokenize(never, "Hey friend"), (V{"Hey", "\u2581friend"}));
}

TEST(PreTokenizers, ByteLevelWithRegexAndPrefixSpace) {
  using V = std::vector<std::string>;
  json config = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(pre_tokenize(config, "Hello world's  x\n"),
            (V{"\u0120Hello", "\u0120world", "'s", "\u0120", "\u0120x", "\u010a"}));
}

TEST(PreTokenizers, DigitsPunctuationWhitespace) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "a12b"),
            (V{"a", "1", "2", "b"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "a12b"),
            (V{"a", "12", "b"}));
  EXPECT_EQ(pre_tokenize({{"type", "Punctuation"}}, "hi, you!"), (V{"hi", ",", " you", "!"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "Hey man!! ok"), (V{"Hey", "man", "!!", "ok"}));
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, " a\u3000b\tc "), (V{"a", "b", "c"}));
}

TEST(Regex, OnigurumaShorthands) {
  EXPECT_EQ(oniguruma_to_pcre2("\\s+(?!\\S)"),
            "[\\t-\\r\\x{85}\\p{Z}]+(?![^\\t-\\r\\x{85}\\p{Z}])");
  EXPECT_EQ(oniguruma_to_pcre2("[^\\s\\p{L}]\\h"), "[^\\t-\\r\\x{85}\\p{Z}\\p{L}][0-9a-fA-F]");
  EXPECT_EQ(oniguruma_to_pcre2("\\\\s[]s]"),
            "\\\\s[]s]");  // escaped backslash, literal ] in a class
  // U+180E is no space for Oniguruma (HF) but is one for PCRE2's \s with UCP.
  Regex onig("\\s", "test", true);
  std::vector<ByteRange> matches;
  onig.find_all("\u180e \u3000", matches);
  EXPECT_EQ(matches, (std::vector<ByteRange>{{3, 4}, {4, 7}}));
}

TEST(Decoders, ByteFallbackFuseStrip) {
  json config = json::parse(R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})");
  EXPECT_EQ(decode_chain(config, {"\u2581Hi", "<0xE2>", "<0x82>", "<0xAC>", "\u2581x"}),
            (std::vector<std::string>{"Hi\u20ac x"}));
  // An invalid byte run becomes one U+FFFD per byte.
  EXPECT_EQ(decode_chain(config, {"a", "<0xE2>", "<0x82>", "b"}),
            (std::vector<std::string>{"a\ufffd\ufffdb"}));
}

TEST(Decoders, MetaspaceAndByteLevel) {
  json metaspace = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}};
  EXPECT_EQ(decode_chain(metaspace, {"\u2581Hey", "\u2581friend"}),
            (std::vector<std::string>{"Hey", " friend"}));
  json byte_level = {{"type", "ByteLevel"}};
  EXPECT_EQ(decode_chain(byte_level, {"\u0120Hello", "<|im_end|>", "\u00e4\u00bd\u0142"}),
            (std::vector<std::string>{" Hello<|im_end|>\u4f60"}));
  EXPECT_EQ(decode_chain(byte_level, {"\u00e4\u00bd"}), (std::vector<std::string>{"\ufffd"}));
}

}  // namespace
}  // namespace dpo::tok
