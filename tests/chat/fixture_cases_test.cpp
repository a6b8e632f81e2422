// The 24 renderings of tests/fixtures/chat_template_cases.json (made by transformers'
// apply_chat_template): identical text, and identical ids once tokenized without special tokens.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace {

nlohmann::ordered_json load_cases() {
  std::ifstream in(std::string(DPO_FIXTURES) + "/chat_template_cases.json");
  return nlohmann::ordered_json::parse(in);
}

// A readable account of where two renderings part.
std::string first_difference(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  const size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) +
         "\n  expected: " + nlohmann::json(expected.substr(from, 100)).dump() +
         "\n  actual:   " + nlohmann::json(actual.substr(from, 100)).dump();
}

std::string tokenizer_for(const std::string& label) {
  if (label == "llama3") return "llama3";
  if (label == "qwen3") return "qwen3";
  return "mistral";  // llama2-chat and tinyllama-chat were set on the mistral tokenizer
}

std::string token_or_empty(const nlohmann::ordered_json& value) {
  return value.is_string() ? value.get<std::string>() : "";
}

void render_all(const std::string& label, const std::string& template_source, int& count) {
  const nlohmann::ordered_json cases = load_cases();
  const auto& entry = cases.at(label);
  const dpo::ChatTemplate chat_template(template_source);
  for (const auto& c : entry.at("cases")) {
    const std::string text = chat_template.apply(
        c.at("messages"), c.at("add_generation_prompt").get<bool>(),
        token_or_empty(entry.at("bos_token")), token_or_empty(entry.at("eos_token")),
        nlohmann::ordered_json::object());
    const std::string expected = c.at("text").get<std::string>();
    EXPECT_EQ(text, expected) << label << " case " << count << ": "
                              << first_difference(expected, text);
    ++count;
  }
}

TEST(ChatFixtures, AllRenderingsIdentical) {
  int count = 0;
  const nlohmann::ordered_json cases = load_cases();
  for (const auto& [label, entry] : cases.items())
    render_all(label, entry.at("template").get<std::string>(), count);
  EXPECT_EQ(count, 24);
}

TEST(ChatFixtures, BuiltinTemplatesMatchTheWellKnownOnes) {
  const nlohmann::ordered_json cases = load_cases();
  EXPECT_EQ(dpo::builtin_chat_template("llama-2"),
            cases.at("llama2-chat").at("template").get<std::string>());
  EXPECT_EQ(dpo::builtin_chat_template("zephyr"),
            cases.at("tinyllama-chat").at("template").get<std::string>());
  int count = 0;
  render_all("llama2-chat", dpo::builtin_chat_template("llama-2"), count);
  render_all("tinyllama-chat", dpo::builtin_chat_template("zephyr"), count);
  EXPECT_EQ(count, 12);
}

TEST(ChatFixtures, TokenizedRenderingsMatchIds) {
  const nlohmann::ordered_json cases = load_cases();
  int count = 0;
  for (const auto& [label, entry] : cases.items()) {
    const dpo::Tokenizer tokenizer =
        dpo::Tokenizer::from_dir(std::string(DPO_FIXTURES) + "/tokenizers/" + tokenizer_for(label));
    const dpo::ChatTemplate chat_template(entry.at("template").get<std::string>());
    for (const auto& c : entry.at("cases")) {
      const std::string text = chat_template.apply(
          c.at("messages"), c.at("add_generation_prompt").get<bool>(),
          token_or_empty(entry.at("bos_token")), token_or_empty(entry.at("eos_token")),
          nlohmann::ordered_json::object());
      const dpo::TokenIds ids = tokenizer.encode(text, /*add_special_tokens=*/false);
      EXPECT_EQ(ids, c.at("ids").get<dpo::TokenIds>()) << label << " case " << count;
      ++count;
    }
  }
  EXPECT_EQ(count, 24);
}

}  // namespace
