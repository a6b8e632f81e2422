// Jinja lexing as jinja2.lexer does it with trim_blocks=True, lstrip_blocks=True.
#include "chat/jinja_lexer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "chat/jinja_value.h"
#include "util/error.h"

namespace dpo::jinja {

void throw_template_error(int line, int column, const std::string& message) {
  throw UserError(fmt::format("chat template line {} column {}: {}", line, column, message));
}

std::string describe_token(const Token& token) {
  switch (token.type) {
    case TokenType::Data:
      return "template data";
    case TokenType::VariableBegin:
      return "begin of print statement";
    case TokenType::VariableEnd:
      return "end of print statement";
    case TokenType::BlockBegin:
      return "begin of statement block";
    case TokenType::BlockEnd:
      return "end of statement block";
    case TokenType::String:
      return "string";
    case TokenType::Integer:
    case TokenType::Float:
      return "number " + token.text;
    case TokenType::End:
      return "end of template";
    default:
      return "'" + token.text + "'";
  }
}

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

class Lexer {
 public:
  explicit Lexer(std::string source) : source_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < source_.size(); ++i)
      if (source_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    while (pos_ < source_.size()) lex_root();
    Token end;
    end.type = TokenType::End;
    set_position(end, source_.size());
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  std::string source_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
  std::vector<size_t> line_starts_;
  mutable size_t cached_offset_ = 0;
  mutable int cached_line_ = 1;
  mutable int cached_column_ = 1;

  bool at(size_t p, const char* text) const {
    return source_.compare(p, std::strlen(text), text) == 0;
  }

  // Line and column (in code points) of a byte offset; walks on from the previous answer, so
  // positions asked in increasing order cost linear time in all.
  void position_of(size_t offset, int& line, int& column) const {
    offset = std::min(offset, source_.size());
    if (offset < cached_offset_) {
      const auto next_line = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
      cached_line_ = static_cast<int>(next_line - line_starts_.begin());
      cached_offset_ = *(next_line - 1);
      cached_column_ = 1;
    }
    for (; cached_offset_ < offset; ++cached_offset_) {
      const auto byte = static_cast<unsigned char>(source_[cached_offset_]);
      if (byte == '\n') {
        ++cached_line_;
        cached_column_ = 1;
      } else if ((byte & 0xC0) != 0x80) {
        ++cached_column_;
      }
    }
    line = cached_line_;
    column = cached_column_;
  }

  void set_position(Token& token, size_t offset) const {
    position_of(offset, token.line, token.column);
  }

  [[noreturn]] void fail(size_t offset, const std::string& message) const {
    int line = 1;
    int column = 1;
    position_of(offset, line, column);
    throw_template_error(line, column, message);
  }

  // Python's \s* from p; returns the end.
  size_t skip_space(size_t p) const {
    while (p < source_.size()) {
      size_t length = 1;
      if (!is_python_space(decode_utf8(source_, p, length))) break;
      p += length;
    }
    return p;
  }

  bool all_space(const std::string& text, size_t from) const {
    if (from >= text.size()) return false;
    for (size_t p = from; p < text.size();) {
      size_t length = 1;
      if (!is_python_space(decode_utf8(text, p, length))) return false;
      p += length;
    }
    return true;
  }

  void emit(TokenType type, std::string text, size_t offset) {
    Token token;
    token.type = type;
    token.text = std::move(text);
    set_position(token, offset);
    tokens_.push_back(std::move(token));
  }

  // The text before a tag, with `-` (strip all whitespace) or lstrip_blocks applied.
  void emit_text_before_tag(std::string text, size_t offset, char sign, bool is_variable) {
    if (sign == '-') {
      text = python_strip(text, nullptr, false, true);
    } else if (sign != '+' && !is_variable) {
      const size_t newline = text.rfind('\n');
      const size_t line_start = newline == std::string::npos ? 0 : newline + 1;
      if ((line_start > 0 || line_starting_) && all_space(text, line_start))
        text.resize(line_start);
    }
    if (!text.empty()) emit(TokenType::Data, std::move(text), offset);
  }

  // {% [-+] raw [-]%} at p: returns the end of the match or npos.
  size_t match_raw_begin(size_t p, char& sign) const {
    size_t q = p + 2;
    sign = 0;
    if (q < source_.size() && (source_[q] == '-' || source_[q] == '+')) sign = source_[q++];
    q = skip_space(q);
    if (!at(q, "raw")) return std::string::npos;
    q = skip_space(q + 3);
    if (at(q, "-%}")) return skip_space(q + 3);
    if (at(q, "%}")) return q + 2;
    return std::string::npos;
  }

  // End of a block or comment closed by `close` ("%}" or "#}") at p: +close, -close\s*, close\n?.
  size_t match_block_close(size_t p, const char* close) const {
    if (source_[p] == '+' && at(p + 1, close)) return p + 3;
    if (source_[p] == '-' && at(p + 1, close)) return skip_space(p + 3);
    if (at(p, close)) return p + 2 + (p + 2 < source_.size() && source_[p + 2] == '\n' ? 1 : 0);
    return std::string::npos;
  }

  void lex_root() {
    size_t q = pos_;
    while (true) {
      q = source_.find('{', q);
      if (q == std::string::npos || q + 1 >= source_.size()) {
        const std::string rest = source_.substr(pos_);
        emit(TokenType::Data, rest, pos_);
        line_starting_ = !rest.empty() && rest.back() == '\n';
        pos_ = source_.size();
        return;
      }
      const char kind = source_[q + 1];
      if (kind == '{' || kind == '%' || kind == '#') break;
      ++q;
    }
    const char kind = source_[q + 1];
    char raw_sign = 0;
    const size_t raw_end = kind == '%' ? match_raw_begin(q, raw_sign) : std::string::npos;
    const bool is_raw = raw_end != std::string::npos;
    char sign = 0;
    if (is_raw) {
      sign = raw_sign;
    } else if (q + 2 < source_.size() && (source_[q + 2] == '-' || source_[q + 2] == '+')) {
      sign = source_[q + 2];
    }
    emit_text_before_tag(source_.substr(pos_, q - pos_), pos_, sign, kind == '{');
    line_starting_ = false;
    if (is_raw) {
      line_starting_ = source_[raw_end - 1] == '\n';
      lex_raw(q, raw_end);
    } else if (kind == '#') {
      lex_comment(q, q + 2 + (sign ? 1 : 0));
    } else {
      lex_tag(q, q + 2 + (sign ? 1 : 0), kind == '%');
    }
  }

  void lex_comment(size_t start, size_t p) {
    for (; p < source_.size(); ++p) {
      const size_t end = match_block_close(p, "#}");
      if (end != std::string::npos) {
        line_starting_ = source_[end - 1] == '\n';
        pos_ = end;
        return;
      }
    }
    fail(start, "Missing end of comment tag");
  }

  void lex_raw(size_t start, size_t p) {
    for (size_t r = p; r + 1 < source_.size(); ++r) {
      if (!at(r, "{%")) continue;
      size_t q = r + 2;
      char sign = 0;
      if (q < source_.size() && (source_[q] == '-' || source_[q] == '+')) sign = source_[q++];
      q = skip_space(q);
      if (!at(q, "endraw")) continue;
      q = skip_space(q + 6);
      if (q >= source_.size()) continue;
      const size_t end = match_block_close(q, "%}");
      if (end == std::string::npos) continue;
      emit_text_before_tag(source_.substr(p, r - p), p, sign, false);
      line_starting_ = source_[end - 1] == '\n';
      pos_ = end;
      return;
    }
    fail(start, "Missing end of raw directive");
  }

  void lex_tag(size_t start, size_t p, bool is_block) {
    emit(is_block ? TokenType::BlockBegin : TokenType::VariableBegin, is_block ? "{%" : "{{",
         start);
    std::vector<char> balance;
    while (true) {
      p = skip_space(p);
      if (p >= source_.size())
        fail(p, is_block ? "unexpected end of template, expected end of block ('%}')"
                         : "unexpected end of template, expected end of print ('}}')");
      if (balance.empty()) {
        size_t end = std::string::npos;
        if (is_block) {
          end = match_block_close(p, "%}");
        } else if (at(p, "-}}")) {
          end = skip_space(p + 3);
        } else if (at(p, "}}")) {
          end = p + 2;
        }
        if (end != std::string::npos) {
          emit(is_block ? TokenType::BlockEnd : TokenType::VariableEnd, "", p);
          line_starting_ = source_[end - 1] == '\n';
          pos_ = end;
          return;
        }
      }
      p = lex_tag_token(p, balance);
    }
  }

  size_t lex_tag_token(size_t p, std::vector<char>& balance) {
    const char c = source_[p];
    if (is_digit(c)) return lex_number(p);
    if (is_name_start(c)) {
      size_t q = p;
      while (q < source_.size() && is_name_char(source_[q])) ++q;
      emit(TokenType::Name, source_.substr(p, q - p), p);
      return q;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    static const char* const operators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                            "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                            ">",  "<",  "=",  ".",  ":",  "|",  ",", ";"};
    for (const char* op : operators) {
      if (!at(p, op)) continue;
      const char first = op[0];
      if (first == '(' || first == '[' || first == '{') {
        balance.push_back(first == '(' ? ')' : first == '[' ? ']' : '}');
      } else if (first == ')' || first == ']' || first == '}') {
        if (balance.empty()) fail(p, fmt::format("unexpected '{}'", first));
        if (balance.back() != first)
          fail(p, fmt::format("unexpected '{}', expected '{}'", first, balance.back()));
        balance.pop_back();
      }
      emit(TokenType::Operator, op, p);
      return p + std::strlen(op);
    }
    size_t length = 1;
    decode_utf8(source_, p, length);
    fail(p, fmt::format("unexpected char {}", python_string_repr(source_.substr(p, length))));
  }

  // Digits with single underscores between them, from p; returns the end (p when none).
  size_t digits(size_t p) const {
    size_t q = p;
    while (q < source_.size() && is_digit(source_[q])) {
      ++q;
      if (q + 1 < source_.size() && source_[q] == '_' && is_digit(source_[q + 1])) ++q;
    }
    return q;
  }

  size_t lex_number(size_t p) {
    // Float: digits ((. digits)? e[+-]? digits | . digits), not right after a '.'.
    const bool after_dot = p > 0 && source_[p - 1] == '.';
    size_t q = digits(p);
    size_t float_end = std::string::npos;
    if (!after_dot) {
      size_t r = q;
      bool has_fraction = false;
      if (r + 1 < source_.size() && source_[r] == '.' && is_digit(source_[r + 1])) {
        r = digits(r + 1);
        has_fraction = true;
      }
      if (r < source_.size() && (source_[r] == 'e' || source_[r] == 'E')) {
        size_t s = r + 1;
        if (s < source_.size() && (source_[s] == '+' || source_[s] == '-')) ++s;
        if (s < source_.size() && is_digit(source_[s])) float_end = digits(s);
      }
      if (float_end == std::string::npos && has_fraction) float_end = r;
    }
    if (float_end != std::string::npos) {
      std::string text;
      for (size_t i = p; i < float_end; ++i)
        if (source_[i] != '_') text += source_[i];
      emit(TokenType::Float, text, p);
      tokens_.back().number = std::strtod(text.c_str(), nullptr);
      return float_end;
    }
    return lex_integer(p);
  }

  size_t lex_integer(size_t p) {
    int base = 10;
    size_t q = p;
    if (source_[p] == '0' && p + 1 < source_.size()) {
      const char x = static_cast<char>(source_[p + 1] | 0x20);
      base = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 10;
    }
    const auto digit_value = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      c = static_cast<char>(c | 0x20);
      return c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
    };
    uint64_t value = 0;
    bool overflow = false;
    const auto add_digit = [&](int d) {
      if (value > (static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(d)) /
                      static_cast<uint64_t>(base))
        overflow = true;
      value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    };
    if (base != 10) {
      size_t r = p + 2;
      size_t count = 0;
      while (r < source_.size()) {
        size_t s = r;
        if (source_[s] == '_') ++s;
        if (s >= source_.size() || digit_value(source_[s]) >= base) break;
        add_digit(digit_value(source_[s]));
        r = s + 1;
        ++count;
      }
      if (count == 0) {
        base = 10;  // "0x" without digits lexes as 0 followed by the name x
      } else {
        q = r;
      }
    }
    if (base == 10) {
      if (source_[p] == '0') {  // 0(_?0)*
        q = p + 1;
        while (q < source_.size()) {
          size_t s = q;
          if (source_[s] == '_') ++s;
          if (s >= source_.size() || source_[s] != '0') break;
          q = s + 1;
        }
      } else {
        q = digits(p);
        for (size_t i = p; i < q; ++i)
          if (source_[i] != '_') add_digit(source_[i] - '0');
      }
    }
    if (overflow) fail(p, "integer literal too large");
    emit(TokenType::Integer, source_.substr(p, q - p), p);
    tokens_.back().integer = static_cast<int64_t>(value);
    return q;
  }

  size_t lex_string(size_t p) {
    const char quote = source_[p];
    std::string value;
    size_t q = p + 1;
    while (q < source_.size() && source_[q] != quote) {
      if (source_[q] != '\\') {
        value += source_[q++];
        continue;
      }
      if (q + 1 >= source_.size()) break;
      q = decode_escape(q, value);
    }
    if (q >= source_.size()) fail(p, "unexpected end of string literal");
    emit(TokenType::String, value, p);
    return q + 1;
  }

  // One backslash escape as Python's unicode-escape codec decodes it; returns the next position.
  size_t decode_escape(size_t q, std::string& out) {
    const char e = source_[q + 1];
    const auto hex = [&](size_t from, int count) -> size_t {
      uint32_t cp = 0;
      for (int i = 0; i < count; ++i) {
        const size_t k = from + static_cast<size_t>(i);
        const char c = k < source_.size() ? static_cast<char>(source_[k] | 0x20) : 0;
        const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0)
          fail(q, fmt::format("truncated \\{}{} escape", e,
                              std::string(static_cast<size_t>(count), 'X')));
        cp = cp * 16 + static_cast<uint32_t>(d);
      }
      if (cp > 0x10FFFF) fail(q, "illegal Unicode character");
      append_utf8(out, cp);
      return from + static_cast<size_t>(count);
    };
    switch (e) {
      case '\n':
        return q + 2;
      case '\\':
      case '\'':
      case '"':
        out += e;
        return q + 2;
      case 'a':
        out += '\a';
        return q + 2;
      case 'b':
        out += '\b';
        return q + 2;
      case 'f':
        out += '\f';
        return q + 2;
      case 'n':
        out += '\n';
        return q + 2;
      case 'r':
        out += '\r';
        return q + 2;
      case 't':
        out += '\t';
        return q + 2;
      case 'v':
        out += '\v';
        return q + 2;
      case 'x':
        return hex(q + 2, 2);
      case 'u':
        return hex(q + 2, 4);
      case 'U':
        return hex(q + 2, 8);
      default:
        break;
    }
    if (e >= '0' && e <= '7') {
      uint32_t cp = 0;
      size_t k = q + 1;
      for (int i = 0; i < 3 && k < source_.size() && source_[k] >= '0' && source_[k] <= '7';
           ++i, ++k)
        cp = cp * 8 + static_cast<uint32_t>(source_[k] - '0');
      append_utf8(out, cp);
      return k;
    }
    if (e == 'N') fail(q, "\\N{...} escapes are not supported");
    out += '\\';  // unknown escapes keep their backslash
    return q + 1;
  }
};

// Newlines normalized to \n and one trailing newline dropped (keep_trailing_newline=False).
std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> tokenize(const std::string& source) {
  return Lexer(normalize_newlines(source)).run();
}

}  // namespace dpo::jinja
