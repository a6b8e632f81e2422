#include "data/formats.h"

#include <gtest/gtest.h>

#include "data/hh.h"
#include "data/prompt.h"
#include "data_test_util.h"

namespace dpo {
namespace {

using json = dpo::RowJson;
using namespace dpo::testing;

RawRow row_of(const json& value, int64_t line = 7) {
  RawRow row;
  row.value = value;
  row.file = "d.jsonl";
  row.line = line;
  return row;
}

json msg(const std::string& role, const std::string& content) {
  return {{"role", role}, {"content", content}};
}

// The InvalidRow `fn` throws: "reason|message".
template <typename Fn>
std::string invalid_of(Fn&& fn) {
  try {
    fn();
  } catch (const InvalidRow& e) {
    return e.reason() + "|" + e.what();
  }
  return "";
}

std::string invalid_pref(const json& value, DatasetFormat format = DatasetFormat::kStandard) {
  return invalid_of([&] { parse_preference_row(row_of(value), format); });
}

TEST(Formats, NamesAndDetection) {
  EXPECT_EQ(parse_dataset_format("hh"), DatasetFormat::kHh);
  EXPECT_EQ(
      user_error_of([] { parse_dataset_format("hhh"); }),
      "dataset_format: unknown format 'hhh' (expected one of: auto, standard, conversational, "
      "implicit, hh, pretokenized, prompt_completion, messages, text, unpaired)");
  EXPECT_EQ(parse_dataset_format("unpaired"), DatasetFormat::kUnpaired);
  EXPECT_FALSE(is_preference_format(DatasetFormat::kUnpaired));
  EXPECT_EQ(format_description(DatasetFormat::kHh),
            "hh (chosen/rejected with \\n\\nHuman:/\\n\\nAssistant: turns)");
  EXPECT_EQ(detect_preference_format(row_of({{"prompt", "a"}, {"chosen", "b"}, {"rejected", "c"}})),
            DatasetFormat::kStandard);
  EXPECT_EQ(detect_preference_format(row_of({{"chosen", "ab"}, {"rejected", "ac"}})),
            DatasetFormat::kImplicit);
  EXPECT_EQ(detect_preference_format(row_of({{"chosen", "\n\nHuman: a\n\nAssistant: b"},
                                             {"rejected", "\n\nHuman: a\n\nAssistant: c"}})),
            DatasetFormat::kHh);
  EXPECT_EQ(detect_preference_format(row_of({{"chosen", json::array({msg("user", "a")})},
                                             {"rejected", json::array({msg("user", "a")})}})),
            DatasetFormat::kConversational);
  EXPECT_EQ(detect_preference_format(
                row_of({{"prompt_ids", {1}}, {"chosen_ids", {2}}, {"rejected_ids", {3}}})),
            DatasetFormat::kPretokenized);
  EXPECT_EQ(detect_sft_format(row_of({{"messages", json::array()}})), DatasetFormat::kMessages);
  EXPECT_EQ(detect_sft_format(row_of({{"prompt", "a"}, {"completion", "b"}})),
            DatasetFormat::kPromptCompletion);
  EXPECT_EQ(detect_sft_format(row_of({{"text", "a"}})), DatasetFormat::kText);
  EXPECT_EQ(
      user_error_of([] {
        detect_preference_format(row_of({{"question", "a"}, {"answer", "b"}}));
      }),
      "d.jsonl:7: cannot tell the preference format from the keys {question, answer} (expected "
      "prompt/chosen/rejected, chosen/rejected or prompt_ids/chosen_ids/rejected_ids; or set "
      "dataset_format)");
}

TEST(Formats, StandardRow) {
  PreferenceRow row = parse_preference_row(row_of({{"prompt", "The capital of Ireland is"},
                                                   {"chosen", " Dublin."},
                                                   {"rejected", " Cork."},
                                                   {"extra", 1}}),
                                           DatasetFormat::kStandard);
  EXPECT_EQ(row.content, RowContent::kText);
  EXPECT_EQ(row.prompt, "The capital of Ireland is");
  EXPECT_EQ(row.chosen, " Dublin.");
  EXPECT_EQ(row.rejected, " Cork.");
  EXPECT_EQ(row.where, "d.jsonl:7");
}

TEST(Formats, ImplicitPromptAsTrl) {
  // The space before the first difference goes to the completions.
  SplitText s =
      extract_text_prompt("The capital of Ireland is Dublin.", "The capital of Ireland is Cork.");
  EXPECT_EQ(s.prompt, "The capital of Ireland is");
  EXPECT_EQ(s.chosen, " Dublin.");
  EXPECT_EQ(s.rejected, " Cork.");
  // A shared first letter stays in the prompt (TRL's character-level prefix).
  s = extract_text_prompt("Q: sky? A: blue", "Q: sky? A: black");
  EXPECT_EQ(s.prompt, "Q: sky? A: bl");
  EXPECT_EQ(s.chosen, "ue");
  // Never inside a UTF-8 character: é (c3 a9) vs è (c3 a8).
  s = extract_text_prompt("caf\xc3\xa9", "caf\xc3\xa8");
  EXPECT_EQ(s.prompt, "caf");
  EXPECT_EQ(s.chosen, "\xc3\xa9");
  // One a prefix of the other: the prompt stops one character early (TRL's loop index).
  s = extract_text_prompt("ab", "abc");
  EXPECT_EQ(s.prompt, "a");
  EXPECT_EQ(s.chosen, "b");
  EXPECT_EQ(s.rejected, "bc");
  // Different from the first character: empty prompt.
  s = extract_text_prompt("x ", "y");
  EXPECT_EQ(s.prompt, "");
  EXPECT_EQ(s.chosen, "x ");
  PreferenceRow row = parse_preference_row(
      row_of({{"chosen", "Sky is blue"}, {"rejected", "Sky is red"}}), DatasetFormat::kImplicit);
  EXPECT_EQ(row.prompt, "Sky is");
  EXPECT_EQ(row.chosen, " blue");
  EXPECT_EQ(row.rejected, " red");
}

TEST(Formats, HhSameFirstWordStaysInCompletions) {
  json value = {{"chosen", "\n\nHuman: Is Dublin the capital?\n\nAssistant: Yes, it is."},
                {"rejected", "\n\nHuman: Is Dublin the capital?\n\nAssistant: Yes, Cork is."}};
  PreferenceRow row = parse_preference_row(row_of(value), DatasetFormat::kHh);
  EXPECT_EQ(row.prompt, "\n\nHuman: Is Dublin the capital?\n\nAssistant:");
  EXPECT_EQ(row.chosen, " Yes, it is.");
  EXPECT_EQ(row.rejected, " Yes, Cork is.");
}

TEST(Formats, HhMultiTurnSplitsAtTheLastAssistant) {
  std::string dialogue =
      "\n\nHuman: Hi\n\nAssistant: Hello! How can I help?\n\nHuman: A capital?\n\nAssistant:";
  json value = {{"chosen", dialogue + " Dublin."}, {"rejected", dialogue + " Cork."}};
  PreferenceRow row = parse_preference_row(row_of(value), DatasetFormat::kHh);
  EXPECT_EQ(row.prompt, dialogue);
  EXPECT_EQ(row.chosen, " Dublin.");
  EXPECT_EQ(row.rejected, " Cork.");
  FormatOptions to_messages;
  to_messages.hh_to_messages = true;
  row = parse_preference_row(row_of(value), DatasetFormat::kHh, to_messages);
  EXPECT_EQ(row.content, RowContent::kMessages);
  EXPECT_EQ(row.prompt_messages,
            json::array({msg("user", "Hi"), msg("assistant", "Hello! How can I help?"),
                         msg("user", "A capital?")}));
  EXPECT_EQ(row.chosen_messages, json::array({msg("assistant", "Dublin.")}));
  EXPECT_EQ(row.rejected_messages, json::array({msg("assistant", "Cork.")}));
}

TEST(Formats, HhBadRows) {
  EXPECT_EQ(invalid_pref({{"chosen", "\n\nHuman: a\n\nAssistant: b"}, {"rejected", "no turns"}},
                         DatasetFormat::kHh),
            "not HH text|d.jsonl:7: field 'rejected': expected HH text with a \"\\n\\nAssistant:\" "
            "turn, found none");
  EXPECT_EQ(invalid_pref({{"chosen", "\n\nHuman: a\n\nAssistant: b"},
                          {"rejected", "\n\nHuman: z\n\nAssistant: c"}},
                         DatasetFormat::kHh),
            "prompt mismatch|d.jsonl:7: fields 'chosen' and 'rejected' differ before their last "
            "\"\\n\\nAssistant:\" (expected the same dialogue with different final answers)");
  EXPECT_EQ(invalid_of([] {
              hh_to_messages("\n\nHuman: a\n\nHuman: b\n\nAssistant: c", "d.jsonl:7", "chosen");
            }),
            "roles do not alternate|d.jsonl:7: field 'chosen': turn 1 is user after user; expected "
            "Human and Assistant turns to alternate");
  EXPECT_EQ(
      invalid_of(
          [] { hh_to_messages("Intro\n\nHuman: a\n\nAssistant: c", "d.jsonl:7", "chosen"); }),
      "not HH text|d.jsonl:7: field 'chosen': expected HH text starting with \"\\n\\nHuman:\", "
      "found other text before it");
}

TEST(Formats, ConversationalWithSystemMessageAndImplicitPrompt) {
  json system = msg("system", "Be brief.");
  json user = msg("user", "Capital of Ireland?");
  json value = {{"chosen", json::array({system, user, msg("assistant", "Dublin.")})},
                {"rejected", json::array({system, user, msg("assistant", "Cork.")})}};
  PreferenceRow row = parse_preference_row(row_of(value), DatasetFormat::kConversational);
  EXPECT_EQ(row.content, RowContent::kMessages);
  EXPECT_EQ(row.prompt_messages, json::array({system, user}));
  EXPECT_EQ(row.chosen_messages, json::array({msg("assistant", "Dublin.")}));
  json explicit_prompt = {{"prompt", json::array({system, user})},
                          {"chosen", json::array({msg("assistant", "Dublin.")})},
                          {"rejected", json::array({msg("assistant", "Cork.")})}};
  row = parse_preference_row(row_of(explicit_prompt), DatasetFormat::kConversational);
  EXPECT_EQ(row.prompt_messages, json::array({system, user}));
  EXPECT_EQ(row.rejected_messages, json::array({msg("assistant", "Cork.")}));
}

TEST(Formats, PretokenizedAndSftRows) {
  PreferenceRow row = parse_preference_row(
      row_of({{"prompt_ids", {1, 5}}, {"chosen_ids", {6, 2}}, {"rejected_ids", {7, 2}}}),
      DatasetFormat::kPretokenized);
  EXPECT_EQ(row.prompt_ids, (TokenIds{1, 5}));
  EXPECT_EQ(row.rejected_ids, (TokenIds{7, 2}));
  SftRow text = parse_sft_row(row_of({{"text", "hello"}}), DatasetFormat::kText);
  EXPECT_EQ(text.completion, "hello");
  EXPECT_TRUE(text.prompt.empty());
  SftRow pc = parse_sft_row(row_of({{"prompt", "Q"}, {"completion", "A"}}),
                            DatasetFormat::kPromptCompletion);
  EXPECT_EQ(pc.prompt, "Q");
  SftRow chat = parse_sft_row(row_of({{"messages", {msg("user", "a"), msg("assistant", "b")}}}),
                              DatasetFormat::kMessages);
  EXPECT_EQ(chat.content, RowContent::kMessages);
  EXPECT_EQ(chat.completion_messages.size(), 2u);
}

// ---- one test per bad-row class, exact messages

TEST(BadRows, MissingField) {
  EXPECT_EQ(invalid_pref({{"prompt", "a"}, {"chosen", "b"}}),
            "missing field|d.jsonl:7: missing field 'rejected' (expected a non-empty string)");
}

TEST(BadRows, EmptyField) {
  EXPECT_EQ(
      invalid_pref({{"prompt", ""}, {"chosen", "b"}, {"rejected", "c"}}),
      "empty field|d.jsonl:7: field 'prompt': expected a non-empty string, got an empty string");
  EXPECT_EQ(
      invalid_pref({{"prompt_ids", {1}}, {"chosen_ids", json::array()}, {"rejected_ids", {2}}},
                   DatasetFormat::kPretokenized),
      "empty field|d.jsonl:7: field 'chosen_ids': expected a non-empty list of token ids, got an "
      "empty list");
}

TEST(BadRows, WrongType) {
  EXPECT_EQ(invalid_pref({{"prompt", "a"}, {"chosen", 3}, {"rejected", "c"}}),
            "wrong type|d.jsonl:7: field 'chosen': expected a string, got number");
  EXPECT_EQ(invalid_pref({{"prompt_ids", {1, -4}}, {"chosen_ids", {2}}, {"rejected_ids", {2}}},
                         DatasetFormat::kPretokenized),
            "wrong type|d.jsonl:7: field 'prompt_ids': element 1 is -4; expected a non-negative "
            "integer token id");
  EXPECT_EQ(invalid_pref(json::array({1, 2})),
            "wrong type|d.jsonl:7: expected a JSON object per row, got array");
  EXPECT_EQ(invalid_pref({{"chosen", {msg("user", "a"), {{"role", "assistant"}, {"content", 5}}}},
                          {"rejected", {msg("user", "a"), msg("assistant", "b")}}},
                         DatasetFormat::kConversational),
            "wrong type|d.jsonl:7: field 'chosen': message 1 needs a string 'content', got number");
}

TEST(BadRows, InvalidUtf8AndJsonComeFromTheReader) {
  RawRow row = row_of(json());
  row.error_reason = "invalid UTF-8";
  row.error_message = "d.jsonl:7: invalid UTF-8 at byte 3 of the row (expected UTF-8 text)";
  EXPECT_EQ(invalid_of([&] { parse_preference_row(row, DatasetFormat::kStandard); }),
            "invalid UTF-8|d.jsonl:7: invalid UTF-8 at byte 3 of the row (expected UTF-8 text)");
}

TEST(BadRows, RolesDoNotAlternate) {
  EXPECT_EQ(
      invalid_pref({{"chosen", {msg("user", "a"), msg("user", "b"), msg("assistant", "c")}},
                    {"rejected", {msg("user", "a"), msg("user", "b"), msg("assistant", "d")}}},
                   DatasetFormat::kConversational),
      "roles do not alternate|d.jsonl:7: field 'chosen': message 1 has role 'user' after 'user' "
      "(expected an optional system message first, then user and assistant turns alternating)");
  EXPECT_EQ(
      invalid_pref({{"chosen", {msg("user", "a"), msg("system", "b"), msg("assistant", "c")}},
                    {"rejected", {msg("user", "a"), msg("system", "b"), msg("assistant", "d")}}},
                   DatasetFormat::kConversational),
      "roles do not alternate|d.jsonl:7: field 'chosen': message 1 has role 'system' after 'user' "
      "(expected an optional system message first, then user and assistant turns alternating)");
}

TEST(BadRows, UnknownRole) {
  EXPECT_EQ(invalid_pref({{"chosen", {msg("human", "a"), msg("assistant", "c")}},
                          {"rejected", {msg("human", "a"), msg("assistant", "d")}}},
                         DatasetFormat::kConversational),
            "unknown role|d.jsonl:7: field 'chosen': message 0 has unknown role 'human' (expected "
            "system, user, assistant or tool)");
}

TEST(BadRows, EmptyCompletion) {
  EXPECT_EQ(
      invalid_pref({{"chosen", "\n\nHuman: a\n\nAssistant:  "},
                    {"rejected", "\n\nHuman: a\n\nAssistant: b"}},
                   DatasetFormat::kHh),
      "empty completion|d.jsonl:7: field 'chosen': empty completion once the prompt is removed "
      "(expected some answer text after the prompt)");
  EXPECT_EQ(
      invalid_pref({{"chosen", {msg("user", "a"), msg("assistant", "")}},
                    {"rejected", {msg("user", "a"), msg("assistant", "b")}}},
                   DatasetFormat::kConversational),
      "empty completion|d.jsonl:7: field 'chosen': empty completion once the prompt is removed "
      "(expected some answer text after the prompt)");
}

}  // namespace
}  // namespace dpo
