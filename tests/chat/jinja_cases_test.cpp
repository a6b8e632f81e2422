// Templates rendered by jinja2 itself, configured as transformers configures it
// (tests/chat/make_jinja_cases.py wrote tests/chat/jinja_cases.json): identical text, or a
// UserError where jinja2 raised.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "util/error.h"

namespace {

nlohmann::ordered_json load() {
  std::ifstream in(std::string(DPO_SOURCE_DIR) + "/tests/chat/jinja_cases.json");
  return nlohmann::ordered_json::parse(in);
}

// The template: the case's own, or (with "label") that fixture's in chat_template_cases.json.
std::string template_of(const nlohmann::ordered_json& c) {
  if (c.contains("template")) return c.at("template").get<std::string>();
  static const nlohmann::ordered_json fixtures = [] {
    std::ifstream in(std::string(DPO_FIXTURES) + "/chat_template_cases.json");
    return nlohmann::ordered_json::parse(in);
  }();
  return fixtures.at(c.at("label").get<std::string>()).at("template").get<std::string>();
}

// Cases carry their own messages, variables and add_generation_prompt, or use the file's (and
// true).
std::string render(const nlohmann::ordered_json& data, const nlohmann::ordered_json& c) {
  const nlohmann::ordered_json& messages =
      c.contains("messages") ? c.at("messages") : data.at("messages");
  const bool add_generation_prompt = c.value("add_generation_prompt", true);
  return dpo::ChatTemplate(template_of(c))
      .apply(messages, add_generation_prompt, "<s>", "</s>",
             c.contains("variables") ? c.at("variables") : data.at("variables"));
}

TEST(JinjaCases, RenderLikeJinja2) {
  const nlohmann::ordered_json data = load();
  int rendered = 0;
  for (const auto& c : data.at("cases")) {
    if (!c.contains("text")) continue;
    const std::string source = c.value("label", template_of(c));
    const std::string expected = c.at("text").get<std::string>();
    try {
      const std::string actual = render(data, c);
      EXPECT_EQ(actual, expected) << "template: " << source << "\nmessages: "
                                  << c.value("messages", data.at("messages")).dump();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "template: " << source << "\nthrew: " << e.what();
    }
    ++rendered;
  }
  EXPECT_GE(rendered, 160);
}

TEST(JinjaCases, FailWhereJinja2Fails) {
  const nlohmann::ordered_json data = load();
  int failing = 0;
  for (const auto& c : data.at("cases")) {
    if (!c.contains("error")) continue;
    const std::string source = c.value("label", template_of(c));
    try {
      const std::string actual = render(data, c);
      ADD_FAILURE() << "template: " << source << "\nrendered " << nlohmann::json(actual).dump()
                    << " but jinja2 raised " << c.at("error").get<std::string>();
    } catch (const dpo::UserError& e) {
      SUCCEED() << e.what();
    }
    ++failing;
  }
  EXPECT_GE(failing, 25);
}

}  // namespace
