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

std::string render(const std::string& source, const nlohmann::ordered_json& messages,
                   const nlohmann::ordered_json& variables) {
  return dpo::ChatTemplate(source).apply(messages, true, "<s>", "</s>", variables);
}

TEST(JinjaCases, RenderLikeJinja2) {
  const nlohmann::ordered_json data = load();
  int rendered = 0;
  for (const auto& c : data.at("cases")) {
    if (!c.contains("text")) continue;
    const std::string source = c.at("template").get<std::string>();
    const std::string expected = c.at("text").get<std::string>();
    try {
      const std::string actual = render(source, data.at("messages"), c.at("variables"));
      EXPECT_EQ(actual, expected) << "template: " << source;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "template: " << source << "\nthrew: " << e.what();
    }
    ++rendered;
  }
  EXPECT_GE(rendered, 60);
}

TEST(JinjaCases, FailWhereJinja2Fails) {
  const nlohmann::ordered_json data = load();
  int failing = 0;
  for (const auto& c : data.at("cases")) {
    if (!c.contains("error")) continue;
    const std::string source = c.at("template").get<std::string>();
    try {
      const std::string actual = render(source, data.at("messages"), c.at("variables"));
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
