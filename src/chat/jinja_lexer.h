// Jinja lexer with the settings transformers uses (trim_blocks and lstrip_blocks on,
// keep_trailing_newline off): text, {{ }}, {% %}, {# #}, raw blocks, whitespace control.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dpo::jinja {

enum class TokenType {
  Data,
  VariableBegin,
  VariableEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Integer,
  Float,
  Operator,
  End
};

struct Token {
  TokenType type = TokenType::End;
  std::string text;  // data, name, operator, or the decoded string literal
  int64_t integer = 0;
  double number = 0.0;
  int line = 1;
  int column = 1;
};

// Tokens of a template; the last one is End. UserError "chat template line L column C: ..."
// on bad input (unterminated comment or string, unbalanced brackets, unknown character).
std::vector<Token> tokenize(const std::string& source);

// How error messages name a token ("end of print statement", "'|'", "number 1").
std::string describe_token(const Token& token);

// "chat template line L column C: message" as a UserError.
[[noreturn]] void throw_template_error(int line, int column, const std::string& message);

}  // namespace dpo::jinja
