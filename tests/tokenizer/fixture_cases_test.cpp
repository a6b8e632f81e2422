// Every case of tests/fixtures/tokenizer_cases.json (made with transformers / tokenizers) for the
// mistral, llama3 and qwen3 tokenizers: ids, ids_no_special, tokens, decoded, decoded_skip_special.
#include <gtest/gtest.h>

#include "test_helpers.h"

namespace dpo {
namespace {

class FixtureCases : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureCases, MatchTransformers) {
  const std::string name = GetParam();
  const Tokenizer& tokenizer = test::fixture_tokenizer(name);
  auto cases = test::read_json(test::fixture_path("tokenizer_cases.json"))[name];
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    std::string text = c["text"];
    SCOPED_TRACE(name + ": " + c["text"].dump());
    TokenIds ids = tokenizer.encode(text, true);
    TokenIds ids_no_special = tokenizer.encode(text, false);
    EXPECT_EQ(ids, c["ids"].get<TokenIds>());
    EXPECT_EQ(ids_no_special, c["ids_no_special"].get<TokenIds>());
    EXPECT_EQ(tokenizer.tokens(ids_no_special), c["tokens"].get<std::vector<std::string>>());
    // The fixtures' "decoded" has the special tokens dropped (see PROVENANCE.md cases with </s>
    // and <|im_start|>): it equals decode(ids_no_special, skip_special_tokens=True).
    EXPECT_EQ(tokenizer.decode(c["ids_no_special"].get<TokenIds>(), true),
              c["decoded"].get<std::string>());
    EXPECT_EQ(tokenizer.decode(c["ids"].get<TokenIds>(), true),
              c["decoded_skip_special"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, FixtureCases, ::testing::Values("mistral", "llama3", "qwen3"));

}  // namespace
}  // namespace dpo
