// Tokenizer behaviour on small hand-made tokenizer.json files (BPE options, added tokens,
// post-processing, decoding) and on the fixture tokenizers (config, vocabulary, model fixtures).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_helpers.h"
#include "tiny_tokenizers.h"

namespace dpo {
namespace {

using test::json;

Tokenizer load(const json& doc, const json& config = json()) {
  return Tokenizer::from_json(doc.dump(), config.is_null() ? "" : config.dump());
}

TEST(Bpe, MergesAsStringsOrPairsAgree) {
  std::vector<std::string> tokens{"a", "b", "c", "ab", "abc"};
  json as_strings = test::tiny_bpe(tokens, {"a b", "ab c"});
  json as_pairs = as_strings;
  as_pairs["model"]["merges"] = json::parse(R"([["a", "b"], ["ab", "c"]])");
  EXPECT_EQ(load(as_strings).encode("abcab"), (TokenIds{4, 3}));
  EXPECT_EQ(load(as_pairs).encode("abcab"), (TokenIds{4, 3}));
}

TEST(Bpe, LowestRankFirstLeftmostOnTies) {
  // "b c" outranks "a b": "abc" -> a + bc; "aaa" with "a a" merges the left pair first.
  json doc = test::tiny_bpe({"a", "b", "c", "ab", "bc", "aa"}, {"b c", "a b", "a a"});
  EXPECT_EQ(load(doc).encode("abc"), (TokenIds{0, 4}));
  EXPECT_EQ(load(doc).encode("aaa"), (TokenIds{5, 0}));
}

TEST(Bpe, UnknownTokensFuseOrNot) {
  json fused = test::tiny_bpe({"<unk>", "a"}, {}, {{"unk_token", "<unk>"}, {"fuse_unk", true}});
  EXPECT_EQ(load(fused).encode("xya\u00e9z"), (TokenIds{0, 1, 0}));
  json separate = test::tiny_bpe({"<unk>", "a"}, {}, {{"unk_token", "<unk>"}, {"fuse_unk", false}});
  EXPECT_EQ(load(separate).encode("xya\u00e9z"), (TokenIds{0, 0, 1, 0, 0}));
  json no_unk = test::tiny_bpe({"a"}, {});
  EXPECT_EQ(load(no_unk).encode("xay"), (TokenIds{0}));  // HF drops characters it cannot encode
}

TEST(Bpe, ByteFallback) {
  json doc = test::tiny_bpe({"<unk>", "a", "<0xC3>", "<0xA9>"}, {},
                            {{"unk_token", "<unk>"}, {"byte_fallback", true}});
  EXPECT_EQ(load(doc).encode("a\u00e9\u4e2d"),
            (TokenIds{1, 2, 3, 0}));  // 中's bytes are not all in the vocab
}

TEST(Bpe, IgnoreMergesKeepsWholeWords) {
  json doc = test::tiny_bpe({"a", "b", "c", "bc", "abc"}, {"b c"});
  EXPECT_EQ(load(doc).encode("abc"), (TokenIds{0, 3}));
  doc["model"]["ignore_merges"] = true;
  EXPECT_EQ(load(doc).encode("abc"), (TokenIds{4}));
}

TEST(Bpe, LongWordIsFast) {
  json doc = test::tiny_bpe({"a", "aa", "aaaa"}, {"a a", "aa aa"});
  Tokenizer tokenizer = load(doc);
  auto ids = tokenizer.encode(std::string(200001, 'a'));
  ASSERT_EQ(ids.size(), 50001u);  // 50000 x "aaaa" + "a"
  EXPECT_EQ(ids.back(), 0);
}

json added_tokens_doc() {
  json doc = test::tiny_bpe({"a", "b", "c", " ", "<m>", "ab", "hi"}, {});
  doc["added_tokens"] = {
      test::added_token(4, "<m>", true, {{"lstrip", true}, {"rstrip", true}}),
      test::added_token(5, "ab", false, {{"single_word", true}, {"normalized", false}}),
      test::added_token(6, "hi", false, {{"normalized", true}})};
  doc["normalizer"] = {{"type", "Lowercase"}};
  return doc;
}

TEST(AddedTokens, StripSingleWordNormalized) {
  Tokenizer tokenizer = load(added_tokens_doc());
  EXPECT_EQ(tokenizer.encode("a  <m> b"), (TokenIds{0, 4, 1}));  // lstrip and rstrip eat the spaces
  EXPECT_EQ(tokenizer.encode("ab c"), (TokenIds{5, 3, 2}));
  EXPECT_EQ(tokenizer.encode("cab"), (TokenIds{2, 0, 1}));  // not a single word: no match
  EXPECT_EQ(tokenizer.encode("HI"), (TokenIds{6}));         // matched after normalization
  EXPECT_TRUE(tokenizer.is_special(4));
  EXPECT_FALSE(tokenizer.is_special(5));
  EXPECT_EQ(tokenizer.decode({0, 4, 5}, true), "a ab");  // no decoder: tokens joined by spaces
}

TEST(AddedTokens, LongestMatchWins) {
  json doc = test::tiny_bpe({"<", "a", ">", "<a>", "<a>>"}, {});
  doc["added_tokens"] = {test::added_token(3, "<a>", true), test::added_token(4, "<a>>", true)};
  EXPECT_EQ(load(doc).encode("<a>><a>"), (TokenIds{4, 3}));
}

TEST(AddedTokens, MetaspaceFirstOnlyAtTheStartOfTheInput) {
  json doc = test::tiny_bpe({"\u2581", "x", "<m>", "\u2581x"}, {"\u2581 x"});
  doc["added_tokens"] = {test::added_token(2, "<m>", true)};
  doc["pre_tokenizer"] = {{"type", "Metaspace"},
                          {"replacement", "\u2581"},
                          {"prepend_scheme", "first"},
                          {"split", true}};
  Tokenizer tokenizer = load(doc);
  EXPECT_EQ(tokenizer.encode("x<m>x"), (TokenIds{3, 2, 1}));
}

TEST(PostProcessing, TemplateAndConfigFlags) {
  json doc = test::kitchen_sink();
  EXPECT_EQ(load(doc).encode("a"), (TokenIds{1, 7}));
  EXPECT_EQ(load(doc).encode("a", false), (TokenIds{7}));
  json config = {
      {"bos_token", "<s>"}, {"eos_token", {{"content", "</s>"}}}, {"add_eos_token", true}};
  Tokenizer with_eos = load(doc, config);
  EXPECT_EQ(with_eos.encode("a"), (TokenIds{1, 7, 2}));
  EXPECT_EQ(with_eos.bos_id(), 1);
  EXPECT_EQ(with_eos.eos_id(), 2);
  EXPECT_EQ(with_eos.eos_token(), "</s>");
}

TEST(PostProcessing, AddBosWithoutKnownBosKeepsTheTemplate) {
  json doc = test::kitchen_sink();
  EXPECT_EQ(load(doc, {{"add_bos_token", true}}).encode("a"), (TokenIds{1, 7}));
  EXPECT_EQ(load(doc, {{"add_bos_token", false}, {"bos_token", "<s>"}}).encode("a"), (TokenIds{7}));
  EXPECT_EQ(load(doc, {{"add_bos_token", true}, {"bos_token", "</s>"}}).encode("a"),
            (TokenIds{2, 7}));
}

TEST(Decoding, CleanUpTokenizationSpacesFromConfig) {
  json doc = test::tiny_bpe({"a", " ", ".", "n't", "'s"}, {});
  Tokenizer plain = load(doc);
  // transformers 5 ignores clean_up_tokenization_spaces for BPE models unless forced.
  Tokenizer ignored = load(doc, {{"clean_up_tokenization_spaces", true}});
  Tokenizer clean = load(
      doc, {{"clean_up_tokenization_spaces", true},
            {"clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", true}});
  TokenIds ids{0, 1, 2, 1, 3, 1, 4};
  EXPECT_EQ(plain.decode(ids), "a   .   n't   's");  // no decoder: joined with spaces
  EXPECT_EQ(ignored.decode(ids), "a   .   n't   's");
  EXPECT_EQ(clean.decode(ids), "a  .  n't  's");
}

TEST(FixtureTokenizers, ConfigAndVocabulary) {
  const Tokenizer& mistral = test::fixture_tokenizer("mistral");
  EXPECT_EQ(mistral.vocab_size(), 32000u);
  EXPECT_EQ(mistral.bos_id(), 1);
  EXPECT_EQ(mistral.eos_id(), 2);
  EXPECT_EQ(mistral.unk_id(), 0);
  EXPECT_FALSE(mistral.pad_id().has_value());
  EXPECT_EQ(mistral.token_to_id("\u2581Hello"), 22557);
  EXPECT_EQ(mistral.id_to_token(22557), "\u2581Hello");
  EXPECT_EQ(mistral.id_to_token(-1), "");
  EXPECT_EQ(mistral.id_to_token(32000), "");
  EXPECT_EQ(mistral.decode({22557, 2, 1526}, false), "Hello</s> world");
  EXPECT_EQ(mistral.decode({22557, 2, 1526, 99999}, true), "Hello world");

  const Tokenizer& llama3 = test::fixture_tokenizer("llama3");
  EXPECT_EQ(llama3.vocab_size(), 128256u);
  EXPECT_EQ(llama3.bos_id(), 128000);
  EXPECT_EQ(llama3.eos_id(), 128001);
  EXPECT_NE(llama3.chat_template().find("start_header_id"), std::string::npos);
  EXPECT_TRUE(llama3.is_special(128000));

  const Tokenizer& qwen3 = test::fixture_tokenizer("qwen3");
  EXPECT_EQ(qwen3.vocab_size(), 151669u);
  EXPECT_FALSE(qwen3.bos_id().has_value());
  EXPECT_EQ(qwen3.eos_id(), 151645);
  EXPECT_EQ(qwen3.pad_id(), 151643);
  EXPECT_NE(qwen3.chat_template().find("<|im_start|>"), std::string::npos);
  EXPECT_EQ(qwen3.decode({151644, 872, 198, 6023, 151645}, false),
            "<|im_start|>user\nhi<|im_end|>");
}

TEST(FixtureTokenizers, EncodeBatchEqualsEncode) {
  const Tokenizer& llama3 = test::fixture_tokenizer("llama3");
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i)
    texts.push_back("row " + std::to_string(i * 7919) + " \u00e9t\u00e9 " +
                    std::string(i % 13, ' ') + "x");
  auto batch = llama3.encode_batch(texts);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i], llama3.encode(texts[i]));
}

TEST(FixtureTokenizers, ModelFixturePromptsAndCompletions) {
  for (const std::string kind : {"llama", "llama3rope", "qwen2"}) {
    Tokenizer tokenizer = Tokenizer::from_dir(test::fixture_path("hf/" + kind + "/model"));
    auto expected = test::read_json(test::fixture_path("hf/" + kind + "/expected.json"));
    ASSERT_EQ(expected["pairs"].size(), 4u);
    for (const auto& pair : expected["pairs"]) {
      SCOPED_TRACE(kind + ": " + pair["prompt"].dump());
      EXPECT_EQ(tokenizer.encode(pair["prompt"].get<std::string>()),
                pair["prompt_ids"].get<TokenIds>());
      for (const std::string side : {"chosen", "rejected"}) {
        TokenIds ids = tokenizer.encode(pair[side].get<std::string>(), false);
        ids.push_back(*tokenizer.eos_id());
        EXPECT_EQ(ids, pair[side + "_ids"].get<TokenIds>());
      }
    }
  }
}

TEST(FixtureTokenizers, SpecialTokensMapFillsMissingTokens) {
  auto dir = std::filesystem::temp_directory_path() / ("dpo_tok_map_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  json doc = test::kitchen_sink();
  std::ofstream(dir / "tokenizer.json") << doc.dump();
  std::ofstream(dir / "special_tokens_map.json")
      << R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>", "unk_token": "<unk>"})";
  Tokenizer tokenizer = Tokenizer::from_dir(dir);
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_EQ(tokenizer.unk_id(), 0);
  std::filesystem::remove_all(dir);
}

// transformers 5 saves the chat template as chat_template.jinja (save_pretrained's default) and
// prefers that file to tokenizer_config.json's chat_template on load: so does dpo.
TEST(FixtureTokenizers, ChatTemplateJinjaFileWinsOverTheConfig) {
  auto dir =
      std::filesystem::temp_directory_path() / ("dpo_tok_jinja_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << test::kitchen_sink().dump();
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "from the config"})";
  EXPECT_EQ(Tokenizer::from_dir(dir).chat_template(), "from the config");
  std::ofstream(dir / "chat_template.jinja") << "{{ messages[0]['content'] }}";
  EXPECT_EQ(Tokenizer::from_dir(dir).chat_template(), "{{ messages[0]['content'] }}");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dpo
