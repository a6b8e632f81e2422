// Robustness: random bytes and invalid UTF-8 into encode (documented behaviour: repaired like
// Python's errors="replace", never an exception), decode round trips, and random or broken JSON
// into the loader (a UserError or a working tokenizer, never a crash or another exception).
#include <gtest/gtest.h>

#include <random>

#include "test_helpers.h"
#include "tiny_tokenizers.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace dpo {
namespace {

using test::json;

std::string random_bytes(std::mt19937& rng, size_t max_length) {
  std::string out(rng() % (max_length + 1), '\0');
  for (auto& c : out) c = static_cast<char>(rng() % 256);
  return out;
}

// Valid UTF-8 from a mix of ASCII, whitespace, Latin, CJK, emoji and arbitrary code points.
std::string random_text(std::mt19937& rng, size_t max_chars) {
  std::string out;
  size_t n = rng() % (max_chars + 1);
  for (size_t i = 0; i < n; ++i) {
    uint32_t kind = rng() % 6, cp;
    if (kind == 0)
      cp = 0x20 + rng() % 0x5F;
    else if (kind == 1)
      cp = " \t\n\r"[rng() % 4];
    else if (kind == 2)
      cp = 0xA0 + rng() % 0x500;
    else if (kind == 3)
      cp = 0x4E00 + rng() % 0x1000;
    else if (kind == 4)
      cp = 0x1F300 + rng() % 0x300;
    else
      cp = rng() % 0x110000;
    if (cp >= 0xD800 && cp < 0xE000) cp = 'x';
    tok::append_utf8(out, cp);
  }
  return out;
}

class Robustness : public ::testing::TestWithParam<std::string> {};

TEST_P(Robustness, RandomBytesAreRepairedNotRejected) {
  const Tokenizer& tokenizer = test::fixture_tokenizer(GetParam());
  std::mt19937 rng(1234);
  for (int i = 0; i < 400; ++i) {
    std::string bytes = random_bytes(rng, 120);
    TokenIds ids = tokenizer.encode(bytes);
    EXPECT_EQ(ids, tokenizer.encode(tok::to_valid_utf8(bytes)));
    for (TokenId id : ids) ASSERT_TRUE(id >= 0 && static_cast<size_t>(id) < tokenizer.vocab_size());
    EXPECT_TRUE(tok::is_valid_utf8_fast(tokenizer.decode(ids)));
  }
  // Truncated sequences, lone continuation bytes, surrogates, overlongs, bytes F5..FF.
  for (std::string bad :
       {"\xE4\xBD", "\x80\x80", "\xED\xA0\x80", "\xC0\xAF", "\xF5\xFF", "a\xF0\x9F\x98"}) {
    EXPECT_EQ(tokenizer.encode(bad), tokenizer.encode(tok::to_valid_utf8(bad)));
  }
}

TEST_P(Robustness, DecodeInvertsEncodeOnValidText) {
  const Tokenizer& tokenizer = test::fixture_tokenizer(GetParam());
  std::mt19937 rng(99);
  for (int i = 0; i < 300; ++i) {
    std::string text = random_text(rng, 60);
    if (text.find('<') != std::string::npos) continue;  // literal special tokens do not round-trip
    if (GetParam() == "qwen3") text = tok::normalize_unicode(text, tok::NormalForm::nfc);
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text, false)), text) << test::json(text).dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Robustness, ::testing::Values("mistral", "llama3", "qwen3"));

// Random replacements of subtrees of a document using every component type.
void mutate(json& node, std::mt19937& rng) {
  if ((node.is_object() || node.is_array()) && !node.empty() && rng() % 4 != 0) {
    auto it = node.begin();
    std::advance(it, rng() % node.size());
    mutate(*it, rng);
    return;
  }
  switch (rng() % 8) {
    case 0:
      node = nullptr;
      break;
    case 1:
      node = static_cast<int>(rng() % 7) - 2;
      break;
    case 2:
      node = "Foo";
      break;
    case 3:
      node = json::array();
      break;
    case 4:
      node = json::object();
      break;
    case 5:
      node = 1.5;
      break;
    case 6:
      node = true;
      break;
    default:
      node = std::string(1, static_cast<char>('a' + rng() % 3));
      break;
  }
}

void expect_user_error_or_working(const std::string& text) {
  try {
    Tokenizer tokenizer = Tokenizer::from_json(text, "");
    for (const char* sample : {"", "a b", "ab  12 34\n", "\u00e9<s>x</s>", "\xff"}) {
      TokenIds ids = tokenizer.encode(sample);
      tokenizer.decode(ids);
      tokenizer.decode(ids, true);
    }
  } catch (const UserError&) {
    // expected for most mutations
  }
}

TEST(LoaderFuzz, MutatedDocumentsGiveUserErrorsOnly) {
  std::mt19937 rng(7);
  const json original = test::kitchen_sink();
  for (int i = 0; i < 600; ++i) {
    json doc = original;
    for (int k = 0, n = 1 + rng() % 3; k < n; ++k) mutate(doc, rng);
    SCOPED_TRACE(doc.dump());
    EXPECT_NO_FATAL_FAILURE(expect_user_error_or_working(doc.dump()));
  }
}

TEST(LoaderFuzz, TruncatedAndCorruptedText) {
  std::mt19937 rng(11);
  const std::string original = test::kitchen_sink().dump();
  for (int i = 0; i < 300; ++i) {
    std::string text = original.substr(0, rng() % original.size());
    expect_user_error_or_working(text);
    std::string corrupted = original;
    for (int k = 0; k < 3; ++k)
      corrupted[rng() % corrupted.size()] = static_cast<char>(rng() % 256);
    expect_user_error_or_working(corrupted);
  }
  for (const char* text : {"", "null", "[]", "{}", "{\"model\": null}",
                           "{\"model\": {\"type\": \"BPE\"}}", "\xff\xfe"})
    expect_user_error_or_working(text);
}

}  // namespace
}  // namespace dpo
