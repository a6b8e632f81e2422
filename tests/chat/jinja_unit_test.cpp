// Unit tests of the Jinja interpreter: error positions, Undefined, apply_chat_template's
// variables, generation blocks, value printing, and limits that keep hostile templates safe.
#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/jinja_value.h"
#include "util/error.h"

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::string render(const std::string& source,
                   const ordered_json& variables = ordered_json::object(),
                   const ordered_json& messages = ordered_json::array()) {
  return dpo::ChatTemplate(source).apply(messages, false, "<s>", "</s>", variables);
}

// The message of the UserError that rendering `source` raises ("" when none).
std::string error_of(const std::string& source,
                     const ordered_json& variables = ordered_json::object()) {
  try {
    render(source, variables);
  } catch (const dpo::UserError& e) {
    return e.what();
  }
  return "";
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("line one\n{% if %}"),
            "chat template line 2 column 7: expected an expression (found end of statement block)");
  EXPECT_EQ(error_of("{{ 1 + }}"),
            "chat template line 1 column 8: unexpected end of print statement");
  EXPECT_EQ(error_of("ab\n\n  {{ x | nope }}"),
            "chat template line 3 column 10: No filter named 'nope'.");
  EXPECT_EQ(error_of("{{ x is nope }}"), "chat template line 1 column 9: No test named 'nope'.");
  EXPECT_EQ(error_of("é\n  {% foo %}"), "chat template line 2 column 6: unknown tag 'foo'");
  EXPECT_EQ(error_of("{% for x in y %}{% endif %}"),
            "chat template line 1 column 20: unknown tag 'endif' (expected 'endfor', 'else')");
  EXPECT_EQ(error_of("{% if x %}open"),
            "chat template line 1 column 15: unexpected end of template, expected 'elif' or "
            "'else' or 'endif'");
  EXPECT_EQ(error_of("x\n{# never closed"),
            "chat template line 2 column 1: Missing end of comment tag");
  EXPECT_EQ(error_of("{{ 'abc }}"),
            "chat template line 1 column 4: unexpected end of string literal");
  EXPECT_EQ(error_of("{{ (1, 2] }}"),
            "chat template line 1 column 9: unexpected ']', expected ')'");
  EXPECT_EQ(error_of("{{ 1 } }}"), "chat template line 1 column 6: unexpected '}'");
  EXPECT_EQ(error_of("{{ a $ b }}"), "chat template line 1 column 6: unexpected char '$'");
  EXPECT_EQ(error_of("{% raw %}never ends"),
            "chat template line 1 column 1: Missing end of raw directive");
  EXPECT_EQ(error_of("{{ 99999999999999999999 }}"),
            "chat template line 1 column 4: integer literal too large");
  EXPECT_EQ(error_of("{{ '\\x4' }}"), "chat template line 1 column 5: truncated \\xXX escape");
  EXPECT_EQ(error_of("{% set 1 = 2 %}"),
            "chat template line 1 column 8: can't assign to this target (found number 1)");
  EXPECT_EQ(
      error_of("{{ x"),
      "chat template line 1 column 5: unexpected end of template, expected end of print ('}}')");
  EXPECT_EQ(
      error_of("{% for x in y recursive %}{% endfor %}"),
      "chat template line 1 column 15: recursive loops are not supported (found 'recursive')");
}

// Runtime errors point at the operator or tag that failed (the '.' of a.b, the '+' of a + b).
TEST(JinjaErrors, RuntimeErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("ok\n  {{ missing.attr }}"),
            "chat template line 2 column 13: 'missing' is undefined");
  EXPECT_EQ(error_of("{% set d = {} %}{{ d.a.b }}"),
            "chat template line 1 column 23: 'dict object' has no attribute 'a'");
  EXPECT_EQ(error_of("{{ 1 / 0 }}"), "chat template line 1 column 6: division by zero");
  EXPECT_EQ(
      error_of("{{ [1].append(2) }}"),
      "chat template line 1 column 7: access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(error_of("{% set x = 1 %}{% set x.y = 2 %}"),
            "chat template line 1 column 19: cannot assign attribute on non-namespace object");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"),
            "chat template line 1 column 24: integer overflow");
  EXPECT_EQ(error_of("{% for a, b in [1] %}{% endfor %}"),
            "chat template line 1 column 4: 'int' object is not iterable");
  EXPECT_EQ(error_of("{% for a, b in [[1]] %}{% endfor %}"),
            "chat template line 1 column 4: not enough values to unpack (expected 2, got 1)");
  EXPECT_EQ(error_of("{{ range(200000) }}"),
            "chat template line 1 column 9: Range too big. The sandbox blocks ranges larger than "
            "MAX_RANGE (100000).");
  EXPECT_EQ(error_of("{{ undefined_x | tojson }}"),
            "chat template line 1 column 18: Object of type Undefined is not JSON serializable");
}

TEST(JinjaErrors, RaiseExceptionIsAUserErrorWithTheMessage) {
  EXPECT_EQ(error_of("{{ raise_exception('Roles must alternate') }}"),
            "chat template: Roles must alternate");
  const ordered_json messages = ordered_json::parse(R"([{"role": "assistant", "content": "x"}])");
  try {
    dpo::ChatTemplate(dpo::builtin_chat_template("llama-2"))
        .apply(messages, false, "<s>", "</s>", ordered_json::object());
    FAIL() << "llama-2 accepted a conversation starting with the assistant";
  } catch (const dpo::UserError& e) {
    EXPECT_STREQ(
        e.what(),
        "chat template: Conversation roles must alternate user/assistant/user/assistant/...");
  }
}

TEST(JinjaErrors, UnknownBuiltinTemplateListsTheKnownOnes) {
  EXPECT_TRUE(dpo::is_builtin_chat_template("chatml"));
  EXPECT_FALSE(dpo::is_builtin_chat_template("vicuna"));
  try {
    dpo::builtin_chat_template("vicuna");
    FAIL();
  } catch (const dpo::UserError& e) {
    EXPECT_STREQ(e.what(),
                 "unknown chat template 'vicuna': expected one of chatml, llama-2, llama-3, zephyr "
                 "(or a file)");
  }
}

TEST(JinjaUndefined, BehavesLikeJinjaDefaultUndefined) {
  EXPECT_EQ(render("[{{ nothing }}]"), "[]");
  EXPECT_EQ(render("{% if nothing %}t{% else %}f{% endif %}"), "f");
  EXPECT_EQ(render("{{ nothing is defined }} {{ nothing is undefined }} {{ nothing is none }}"),
            "False True False");
  EXPECT_EQ(render("{{ nothing | length }} {{ nothing | default('d') }} {{ nothing ~ 'x' }}"),
            "0 d x");
  EXPECT_EQ(render("{% for x in nothing %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{{ nothing == nothing }} {{ nothing == none }} {{ 'a' in nothing }}"),
            "True False False");
  EXPECT_EQ(render("{% set d = {'a': 1} %}[{{ d.b }}] {{ d.b is defined }} {{ d.a is defined }}"),
            "[] False True");
  EXPECT_EQ(render("[{{ 'x' if false }}]"), "[]");
  EXPECT_EQ(error_of("{{ nothing + 1 }}"),
            "chat template line 1 column 12: 'nothing' is undefined");
  EXPECT_EQ(error_of("{{ nothing() }}"), "chat template line 1 column 11: 'nothing' is undefined");
  EXPECT_EQ(error_of("{{ nothing[0] }}"), "chat template line 1 column 11: 'nothing' is undefined");
}

TEST(ChatTemplateApply, PassesVariablesAsTransformersDoes) {
  // tools and documents are None unless given; extra variables override and add.
  EXPECT_EQ(render("{{ tools is none }} {{ documents }} {{ tools is defined }}"), "True None True");
  EXPECT_EQ(render("{{ tools | length }}", ordered_json::parse(R"({"tools": [1, 2]})")), "2");
  EXPECT_EQ(render("{{ enable_thinking is false }}",
                   ordered_json::parse(R"({"enable_thinking": false})")),
            "True");
  EXPECT_EQ(render("{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}"), "<s></s>False");
  const dpo::ChatTemplate chat_template("{{ messages | tojson }}");
  // ordered_json keeps the caller's key order; nlohmann::json sorts keys (documented in the
  // header).
  EXPECT_EQ(chat_template.apply(ordered_json::parse(R"([{"role": "user", "content": "x"}])"), false,
                                "", "", ordered_json::object()),
            R"([{"role": "user", "content": "x"}])");
  EXPECT_EQ(
      chat_template.apply(json::parse(R"([{"role": "user", "content": "x"}])"), false, "", ""),
      R"([{"content": "x", "role": "user"}])");
  // Python json.dumps: integers stay integers, floats print as repr, big unsigned become floats.
  EXPECT_EQ(render("{{ v | tojson }}",
                   ordered_json::parse(R"({"v": [1, 1.0, 0.1, 18446744073709551615, -5]})")),
            "[1, 1.0, 0.1, 1.8446744073709552e+19, -5]");
}

// select, map, unique, reverse and items return generators in jinja2: always true, no len().
TEST(JinjaValues, FilterGeneratorsAreLazyLikeJinja2) {
  EXPECT_EQ(
      render("{% if [1, 3] | select('even') %}T{% endif %}|{{ [1, 3] | select('even') | list }}"),
      "T|[]");
  EXPECT_EQ(render("{{ [3, 1] | reverse | join(',') }} {{ ['a'] | map('upper') | first }}"),
            "1,3 A");
  EXPECT_EQ(error_of("{{ [1] | select('odd') | length }}"),
            "chat template line 1 column 26: object of type 'generator' has no len()");
  EXPECT_EQ(render("{{ none | select('odd') | list }}{{ 0 | map('string') | list }}"), "[][]");
}

TEST(ChatTemplateApply, GenerationBlocksRenderTheirBody) {
  EXPECT_EQ(
      render("{% for i in range(2) %}{% generation %}<{{ i }}>{% endgeneration %}{% endfor %}"),
      "<0><1>");
}

TEST(ChatTemplateApply, StrftimeNowUsesTheLocalClock) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  EXPECT_EQ(render("{{ strftime_now('%Y') }}"), std::to_string(1900 + local.tm_year));
  EXPECT_EQ(render("{{ strftime_now('') }}"), "");
}

TEST(ChatTemplateApply, NewlinesNormalizedAndOneTrailingNewlineDropped) {
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");
  EXPECT_EQ(render("a\n\n"), "a\n");
  EXPECT_EQ(render("{{ 'x\r\ny' }}"), "x\ny");
  EXPECT_EQ(render("{%- if true -%}\n\n  x  \n\n{%- endif -%}"), "x");
  EXPECT_EQ(render("{#- c -#}  \n y"), "y");
  EXPECT_EQ(render("  {#  c #}\ny"), "y");
}

TEST(JinjaValues, PythonFloatRepr) {
  using dpo::jinja::python_float_repr;
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(2.0), "2.0");
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(0.00001234), "1.234e-05");
  EXPECT_EQ(python_float_repr(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(python_float_repr(5e-324), "5e-324");
  EXPECT_EQ(python_float_repr(1.0 / 3.0), "0.3333333333333333");
}

TEST(JinjaValues, PythonStringRepr) {
  using dpo::jinja::python_string_repr;
  EXPECT_EQ(python_string_repr("it's"), "\"it's\"");
  EXPECT_EQ(python_string_repr("say \"x\" it's"), "'say \"x\" it\\'s'");
  EXPECT_EQ(python_string_repr("a\\b\n\x01\x7f"), "'a\\\\b\\n\\x01\\x7f'");
  EXPECT_EQ(python_string_repr("é 日本 \u00a0"), "'é 日本 \\xa0'");
}

TEST(JinjaLimits, DeepNestingAndRecursionAreUserErrors) {
  const std::string deep_parens = std::string(5000, '(') + "1" + std::string(5000, ')');
  EXPECT_NE(error_of("{{ " + deep_parens + " }}").find("nested too deeply"), std::string::npos);
  std::string filters = "{{ 'x'";
  for (int i = 0; i < 5000; ++i) filters += " | upper";
  EXPECT_NE(error_of(filters + " }}").find("nested too deeply"), std::string::npos);
  std::string blocks;
  for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
  EXPECT_NE(error_of(blocks).find("nested too deeply"), std::string::npos);
  std::string sums = "{{ 1";
  for (int i = 0; i < 5000; ++i) sums += " + 1";
  EXPECT_NE(error_of(sums + " }}").find("nested too deeply"), std::string::npos);
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
                .find("maximum recursion depth exceeded"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'ab' * 100000000000 }}").find("too large"), std::string::npos);
}

}  // namespace
