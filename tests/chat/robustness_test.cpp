// Random text and random template fragments into the parser and evaluator: every input either
// renders or raises UserError; nothing crashes, hangs or throws anything else.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "chat/chat_template.h"
#include "util/error.h"

namespace {

const nlohmann::ordered_json& messages() {
  static const nlohmann::ordered_json value = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "  hi  ", "n": 3, "f": 1.5, "l": [1, "a", null], "d": {"k": true}},
    {"role": "assistant", "content": "<think>x</think>ok", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}
  ])");
  return value;
}

// Renders `source`; returns false (and records a failure) when anything but UserError escapes.
bool survives(const std::string& source) {
  try {
    const dpo::ChatTemplate chat_template(source);
    chat_template.apply(messages(), true, "<s>", "</s>",
                        nlohmann::ordered_json::parse(R"({"tools": [{"a": 1}]})"));
  } catch (const dpo::UserError&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << "template "
                  << nlohmann::json(source).dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace)
                  << " threw a non-user error: " << e.what();
    return false;
  }
  return true;
}

TEST(ChatRobustness, RandomBytes) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    std::string source(rng() % 64, '\0');
    for (char& c : source) c = static_cast<char>(rng() % 256);
    if (!survives(source)) break;
  }
}

TEST(ChatRobustness, RandomTemplateFragments) {
  static const char* const fragments[] = {
      "{{",
      "}}",
      "{%",
      "%}",
      "{#",
      "#}",
      "{%-",
      "-%}",
      "{{-",
      "-}}",
      "{%+",
      "+%}",
      " ",
      "\n",
      "  ",
      "x",
      "y",
      "messages",
      "message",
      "loop",
      "ns",
      "namespace(",
      "(",
      ")",
      "[",
      "]",
      "{",
      "}",
      ",",
      ":",
      ".",
      "|",
      "~",
      "+",
      "-",
      "*",
      "/",
      "//",
      "%",
      "**",
      "==",
      "!=",
      "<",
      ">=",
      "=",
      "'",
      "\"",
      "'a'",
      "\"b\"",
      "0",
      "1",
      "-1",
      "2.5",
      "1e3",
      "true",
      "none",
      "if",
      "elif",
      "else",
      "endif",
      "for",
      "in",
      "endfor",
      "set",
      "endset",
      "macro",
      "endmacro",
      "call",
      "endcall",
      "caller()",
      "filter",
      "endfilter",
      "with",
      "endwith",
      "raw",
      "endraw",
      "break",
      "continue",
      "not",
      "and",
      "or",
      "is",
      "defined",
      "none",
      "string",
      "mapping",
      "upper",
      "tojson",
      "trim",
      "length",
      "join",
      "items",
      "first",
      "last",
      "default(",
      "map(attribute='role')",
      "selectattr(",
      "range(",
      "loop.index0",
      "loop.last",
      "message.content",
      "messages[0]",
      "messages[::-1]",
      "[1:]",
      ".strip()",
      ".split('a')",
      ".get('x')",
      "ns.x",
      "x.y",
      "tools",
      "raise_exception('boom')",
      "strftime_now('%d')",
      "\\",
      "\\x",
      "'\\u12'",
      "é",
      "🙂",
      "\t",
      "\r\n",
      "{{ messages }}",
      "{% for m in messages %}",
      "{% endfor %}",
      "{% if m.role == 'user' %}",
      "{% endif %}",
      "{% set ns = namespace(a=1) %}",
      "{% set ns.a = ns.a + 1 %}",
      "{{ ns.a }}",
      "{% macro f(a, b=2) %}",
      "{% endmacro %}",
      "{{ f(1) }}",
      "{{ m.content | trim }}",
  };
  const size_t count = sizeof(fragments) / sizeof(fragments[0]);
  std::mt19937 rng(42);
  for (int i = 0; i < 20000; ++i) {
    std::string source;
    const size_t pieces = 1 + rng() % 24;
    for (size_t k = 0; k < pieces; ++k) source += fragments[rng() % count];
    if (!survives(source)) break;
  }
}

TEST(ChatRobustness, MutatedRealTemplates) {
  std::ifstream in(std::string(DPO_FIXTURES) + "/chat_template_cases.json");
  const nlohmann::ordered_json cases = nlohmann::ordered_json::parse(in);
  std::mt19937 rng(7);
  for (const auto& [label, entry] : cases.items()) {
    const std::string original = entry.at("template").get<std::string>();
    for (int i = 0; i < 300; ++i) {
      std::string source = original;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !source.empty(); ++e) {
        const size_t at = rng() % source.size();
        switch (rng() % 3) {
          case 0:
            source.erase(at, 1 + rng() % 8);
            break;
          case 1:
            source.insert(at, 1, "{}%#-+()[]'\"|.~ \n"[rng() % 17]);
            break;
          default:
            source.insert(at, source.substr(rng() % source.size(), rng() % 16));
        }
      }
      if (!survives(source)) return;
    }
  }
}

}  // namespace
