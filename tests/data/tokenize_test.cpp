// Tokenization and truncation rules, with a toy byte-level encoder (data_test_util.h).
#include "data/tokenize.h"

#include <gtest/gtest.h>

#include "data/truncate.h"
#include "data_test_util.h"

namespace dpo {
namespace {

using nlohmann::json;
using namespace dpo::testing;

TokenIds cat(TokenIds a, const TokenIds& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

PreferenceRow text_row(const std::string& prompt, const std::string& chosen,
                       const std::string& rejected) {
  PreferenceRow row;
  row.prompt = prompt;
  row.chosen = chosen;
  row.rejected = rejected;
  row.where = "d.jsonl:1";
  return row;
}

TEST(Tokenize, TextPromptGetsBosCompletionsGetEos) {
  TextEncoder enc = toy_encoder();
  PreferenceExample e = tokenize_preference_row(text_row("Q:", " A", " B"), enc, nullptr);
  EXPECT_EQ(e.prompt_ids, cat({1}, toy_ids("Q:")));
  EXPECT_EQ(e.chosen_ids, cat(toy_ids(" A"), {2}));
  EXPECT_EQ(e.rejected_ids, cat(toy_ids(" B"), {2}));
}

TEST(Tokenize, LiteralEosTextIsTheEosTokenAndNeverDoubled) {
  TextEncoder enc = toy_encoder();
  // Inside the text the EOS string is the EOS token (HF matches special tokens in text).
  PreferenceExample e = tokenize_preference_row(text_row("Q", "x</s>y", "z</s>"), enc, nullptr);
  EXPECT_EQ(e.chosen_ids, cat(cat(toy_ids("x"), {2}), cat(toy_ids("y"), {2})));
  // A completion ending with the EOS string gets no second EOS.
  EXPECT_EQ(e.rejected_ids, cat(toy_ids("z"), {2}));
}

TEST(Tokenize, PromptWithBosTextGetsNoSecondBos) {
  TextEncoder enc = toy_encoder();
  PreferenceExample e =
      tokenize_preference_row(text_row("<s>[INST] q [/INST]", " a", " b"), enc, nullptr);
  EXPECT_EQ(e.prompt_ids, cat({1}, toy_ids("[INST] q [/INST]")));
  EXPECT_EQ(e.chosen_ids, cat(toy_ids(" a"), {2}));
}

TEST(Tokenize, ConversationalUsesGenerationPromptAndNoExtraSpecials) {
  TextEncoder enc = toy_encoder();
  ChatRenderer render = toy_renderer();
  PreferenceRow row;
  row.content = RowContent::kMessages;
  row.prompt_messages =
      json::array({{{"role", "system"}, {"content", "S"}}, {{"role", "user"}, {"content", "U"}}});
  row.chosen_messages = json::array({{{"role", "assistant"}, {"content", "C"}}});
  row.rejected_messages = json::array({{{"role", "assistant"}, {"content", "R"}}});
  row.where = "d.jsonl:1";
  TokenizeStats stats;
  PreferenceExample e = tokenize_preference_row(row, enc, &render, &stats);
  EXPECT_EQ(e.prompt_ids, toy_ids("<s>[system]S</s>[user]U</s>[assistant]"));
  // Full rendering minus the prompt's ids; the template's own "</s>" ends the turn, no EOS added.
  EXPECT_EQ(e.chosen_ids, toy_ids("C</s>"));
  EXPECT_EQ(e.rejected_ids, toy_ids("R</s>"));
  EXPECT_EQ(stats.boundary_mismatches, 0);
  EXPECT_EQ(
      user_error_of([&] { tokenize_preference_row(row, enc, nullptr); }),
      "d.jsonl:1: chat messages need a chat template, and none is set (the tokenizer has no "
      "chat_template; set chat_template to a file or one of llama-2, zephyr, chatml, llama-3)");
}

TEST(Tokenize, BoundaryMismatchIsCountedAndSplitAtTheCommonPrefix) {
  TextEncoder enc = toy_encoder();
  // "<" + "/s>" joins into the EOS token across the boundary: the prompt's ids are no prefix.
  PreferenceExample e;
  TokenizeStats stats;
  e = tokenize_preference_row(text_row("ab<", "/s>", "c"), enc, nullptr, &stats);
  EXPECT_EQ(stats.boundary_mismatches, 1);
  // full chosen = [1, a, b, 2, 2] ("ab" + "</s>" + the added EOS) agrees with the prompt
  // [1, a, b, <] for 3 tokens, full rejected = [1, a, b, <, c, 2] for 4: TRL 1.16 cuts the prompt
  // to the shorter agreement and each completion is the rest of its own full sequence.
  EXPECT_EQ(e.prompt_ids, cat({1}, toy_ids("ab")));
  EXPECT_EQ(e.chosen_ids, (TokenIds{2, 2}));
  EXPECT_EQ(e.rejected_ids, cat(toy_ids("<c"), {2}));
}

TEST(Tokenize, PretokenizedIdsAreRangeChecked) {
  TextEncoder enc = toy_encoder();
  PreferenceRow row;
  row.content = RowContent::kIds;
  row.where = "d.jsonl:3";
  row.prompt_ids = {1, 20};
  row.chosen_ids = {30, 2};
  row.rejected_ids = {300, 2};
  try {
    tokenize_preference_row(row, enc, nullptr);
    FAIL();
  } catch (const InvalidRow& e) {
    EXPECT_EQ(e.reason(), "token id out of range");
    EXPECT_STREQ(e.what(),
                 "d.jsonl:3: field 'rejected_ids': token id 300 at position 0 is out of "
                 "range (expected ids below the vocabulary size 266)");
  }
}

TEST(Tokenize, SftRules) {
  TextEncoder enc = toy_encoder();
  SftRow text;
  text.completion = "hi";
  SftExample e = tokenize_sft_row(text, enc, nullptr);
  EXPECT_TRUE(e.prompt_ids.empty());
  EXPECT_EQ(e.completion_ids, cat(cat({1}, toy_ids("hi")), {2}));
  SftRow pc;
  pc.prompt = "Q";
  pc.completion = "A";
  e = tokenize_sft_row(pc, enc, nullptr);
  EXPECT_EQ(e.prompt_ids, cat({1}, toy_ids("Q")));
  EXPECT_EQ(e.completion_ids, cat(toy_ids("A"), {2}));
}

TEST(Tokenize, ParallelForKeepsOrderAndRethrows) {
  std::vector<int> out(1000, -1);
  parallel_for(out.size(), 2, [&](size_t i) { out[i] = static_cast<int>(i); });
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<int>(i));
  EXPECT_THROW(parallel_for(10, 2,
                            [](size_t i) {
                              if (i == 7) throw UserError("boom");
                            }),
               UserError);
}

// ---- truncation matrix: each mode x prompt/completion limits, expected ids by hand.

struct TruncationCase {
  TruncationMode mode;
  int64_t max_length, max_prompt_length, max_completion_length;
  TruncationResult result;
  TokenIds prompt, chosen, rejected;
};

TEST(Truncate, Matrix) {
  using M = TruncationMode;
  using R = TruncationResult;
  const TokenIds p{1, 2, 3, 4}, c{10, 11, 12}, r{20, 21, 22, 23, 24};
  const std::vector<TruncationCase> cases = {
      {M::kKeepStart, 100, 0, 0, R::kUnchanged, p, c, r},
      {M::kKeepStart, 9, 0, 0, R::kUnchanged, p, c, r},
      {M::kKeepStart, 8, 0, 0, R::kTruncated, p, c, {20, 21, 22, 23}},
      {M::kKeepStart, 6, 0, 0, R::kTruncated, p, {10, 11}, {20, 21}},
      {M::kKeepStart, 5, 0, 0, R::kTruncated, p, {10}, {20}},
      {M::kKeepStart, 4, 0, 0, R::kDropped, {}, {}, {}},
      {M::kKeepStart, 3, 0, 0, R::kDropped, {}, {}, {}},
      {M::kKeepStart, 0, 2, 0, R::kTruncated, {3, 4}, c, r},
      {M::kKeepStart, 0, 0, 2, R::kTruncated, p, {10, 11}, {20, 21}},
      {M::kKeepStart, 5, 2, 0, R::kTruncated, {3, 4}, c, {20, 21, 22}},
      {M::kKeepStart, 4, 3, 0, R::kTruncated, {2, 3, 4}, {10}, {20}},
      {M::kKeepStart, 3, 3, 0, R::kDropped, {}, {}, {}},
      {M::kKeepStart, 6, 4, 4, R::kTruncated, p, {10, 11}, {20, 21}},
      {M::kKeepEnd, 100, 0, 0, R::kUnchanged, p, c, r},
      {M::kKeepEnd, 8, 0, 0, R::kTruncated, {2, 3, 4}, c, r},
      {M::kKeepEnd, 6, 0, 0, R::kTruncated, {4}, c, r},
      {M::kKeepEnd, 4, 0, 0, R::kTruncated, {}, c, {21, 22, 23, 24}},
      {M::kKeepEnd, 2, 0, 0, R::kTruncated, {}, {11, 12}, {23, 24}},
      {M::kKeepEnd, 0, 1, 0, R::kTruncated, {4}, c, r},
      {M::kKeepEnd, 0, 0, 3, R::kTruncated, p, c, {20, 21, 22}},
      {M::kKeepEnd, 6, 3, 4, R::kTruncated, {3, 4}, c, {20, 21, 22, 23}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const TruncationCase& k = cases[i];
    PreferenceExample e{p, c, r, 0};
    TruncationOptions o;
    o.mode = k.mode;
    o.max_length = k.max_length;
    o.max_prompt_length = k.max_prompt_length;
    o.max_completion_length = k.max_completion_length;
    TruncationResult got = truncate_example(e, o);
    SCOPED_TRACE("case " + std::to_string(i));
    ASSERT_EQ(got, k.result);
    if (got == R::kDropped) continue;
    EXPECT_EQ(e.prompt_ids, k.prompt);
    EXPECT_EQ(e.chosen_ids, k.chosen);
    EXPECT_EQ(e.rejected_ids, k.rejected);
  }
  EXPECT_EQ(user_error_of([] { parse_truncation_mode("keep_middle"); }),
            "truncation_mode: unknown mode 'keep_middle' (expected keep_start or keep_end)");
}

TEST(Truncate, SftKeepsPromptAndCutsCompletion) {
  SftExample e{{1, 2}, {3, 4, 5, 6}, 0};
  TruncationOptions o;
  o.max_length = 4;
  EXPECT_EQ(truncate_example(e, o), TruncationResult::kTruncated);
  EXPECT_EQ(e.completion_ids, (TokenIds{3, 4}));
}

}  // namespace
}  // namespace dpo
