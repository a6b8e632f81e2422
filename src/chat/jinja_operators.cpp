// Python operators on Jinja values: arithmetic, membership and comparison.
#include <fmt/format.h>

#include <cmath>

#include "chat/jinja_builtins.h"

namespace dpo::jinja {
namespace {

constexpr size_t kMaxRepeat = size_t{1} << 26;  // str * n and list * n stop at 64 Mi elements

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) throw EvalError(a.undefined_hint());
  if (b.is_undefined()) throw EvalError(b.undefined_hint());
  throw EvalError(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op,
                              a.type_name(), b.type_name()));
}

// a op b on int64 with __builtin_*_overflow; EvalError on overflow.
template <typename Op>
int64_t checked(Op op, int64_t a, int64_t b) {
  int64_t result = 0;
  if (op(a, b, &result)) throw EvalError("integer overflow");
  return result;
}
bool add_overflows(int64_t a, int64_t b, int64_t* r) {
  return __builtin_add_overflow(a, b, r);
}
bool sub_overflows(int64_t a, int64_t b, int64_t* r) {
  return __builtin_sub_overflow(a, b, r);
}
bool mul_overflows(int64_t a, int64_t b, int64_t* r) {
  return __builtin_mul_overflow(a, b, r);
}

Value repeat(const Value& sequence, int64_t count) {
  if (count <= 0) return sequence.is_string() ? Value(std::string()) : Value::list();
  const size_t unit =
      sequence.is_string() ? sequence.as_string().size() : sequence.as_list().size();
  if (unit && static_cast<size_t>(count) > kMaxRepeat / unit)
    throw EvalError("repetition result too large");
  if (sequence.is_string()) {
    std::string out;
    for (int64_t i = 0; i < count; ++i) out += sequence.as_string();
    return Value(std::move(out));
  }
  List out;
  for (int64_t i = 0; i < count; ++i)
    out.insert(out.end(), sequence.as_list().begin(), sequence.as_list().end());
  return sequence.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

Value add(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return Value(a.as_double() + b.as_double());
    return Value(checked(add_overflows, a.as_int(), b.as_int()));
  }
  if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
  if (a.is_sequence() && b.is_sequence() && a.is_tuple() == b.is_tuple()) {
    List items = a.as_list();
    items.insert(items.end(), b.as_list().begin(), b.as_list().end());
    return a.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
  }
  if (a.is_string() && !b.is_undefined() && !a.is_undefined() && !b.is_string())
    throw EvalError(fmt::format("can only concatenate str (not \"{}\") to str", b.type_name()));
  unsupported("+", a, b);
}

double python_float_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0.0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

Value divide(const std::string& op, const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) unsupported(op, a, b);
  const bool is_float = a.is_float() || b.is_float();
  if (op == "/") {
    if (b.as_double() == 0.0) throw EvalError("division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (is_float) {
    if (b.as_double() == 0.0)
      throw EvalError(op == "//" ? "float floor division by zero" : "float modulo");
    const double x = a.as_double();
    const double y = b.as_double();
    if (op == "//") {  // Python's float floor division (via divmod)
      const double mod = std::fmod(x, y);
      double div = (x - mod) / y;
      if (mod != 0.0 && ((y < 0) != (mod < 0))) div -= 1.0;
      if (div == 0.0) return Value(std::copysign(0.0, x / y));
      double floor_div = std::floor(div);
      if (div - floor_div > 0.5) floor_div += 1.0;
      return Value(floor_div);
    }
    return Value(python_float_mod(x, y));
  }
  const int64_t x = a.as_int();
  const int64_t y = b.as_int();
  if (y == 0) throw EvalError("integer division or modulo by zero");
  if (x == INT64_MIN && y == -1) throw EvalError("integer overflow");
  int64_t quotient = x / y;
  int64_t remainder = x % y;
  if (remainder != 0 && ((remainder < 0) != (y < 0))) {
    --quotient;
    remainder += y;
  }
  return op == "//" ? Value(quotient) : Value(remainder);
}

Value power(const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) unsupported("** or pow()", a, b);
  if (a.is_float() || b.is_float() || b.as_int() < 0) {
    if (a.as_double() == 0.0 && b.as_double() < 0)
      throw EvalError("0.0 cannot be raised to a negative power");
    return Value(std::pow(a.as_double(), b.as_double()));
  }
  int64_t base = a.as_int();
  int64_t exponent = b.as_int();
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) result = checked(mul_overflows, result, base);
    exponent >>= 1;
    if (exponent > 0) base = checked(mul_overflows, base, base);
  }
  return Value(result);
}

}  // namespace

std::string printf_format(const std::string& pattern, const List& values, bool all_must_be_used) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') {
      out += pattern[i];
      continue;
    }
    if (++i >= pattern.size()) throw EvalError("incomplete format");
    const char spec = pattern[i];
    if (spec == '%') {
      out += '%';
      continue;
    }
    if (next >= values.size()) throw EvalError("not enough arguments for format string");
    const Value& value = values[next++];
    if (spec == 's') {
      out += value.str();
    } else if (spec == 'r') {
      out += value.repr();
    } else if ((spec == 'd' || spec == 'i') && value.is_number()) {
      const double x = value.as_double();
      if (value.is_float() && !(std::fabs(x) < 9.2e18))
        throw EvalError("cannot convert float to integer");
      out += std::to_string(value.is_float() ? static_cast<int64_t>(x) : value.as_int());
    } else if (spec == 'f' && value.is_number()) {
      out += fmt::format("{:.6f}", value.as_double());
    } else {
      throw EvalError(
          fmt::format("unsupported format character '{}' for a {}", spec, value.type_name()));
    }
  }
  if (all_must_be_used && next < values.size())
    throw EvalError("not all arguments converted during string formatting");
  return out;
}

Value binary_operation(const std::string& op, const Value& a, const Value& b) {
  if (op == "+") return add(a, b);
  if (op == "-") {
    if (!a.is_number() || !b.is_number()) unsupported("-", a, b);
    if (a.is_float() || b.is_float()) return Value(a.as_double() - b.as_double());
    return Value(checked(sub_overflows, a.as_int(), b.as_int()));
  }
  if (op == "*") {
    if (a.is_number() && b.is_number()) {
      if (a.is_float() || b.is_float()) return Value(a.as_double() * b.as_double());
      return Value(checked(mul_overflows, a.as_int(), b.as_int()));
    }
    if ((a.is_string() || a.is_sequence()) && (b.is_int() || b.is_bool()))
      return repeat(a, b.as_int());
    if ((b.is_string() || b.is_sequence()) && (a.is_int() || a.is_bool()))
      return repeat(b, a.as_int());
    unsupported("*", a, b);
  }
  if (op == "/" || op == "//" || op == "%") {
    if (op == "%" && a.is_string()) {  // printf-style: a tuple holds the arguments
      const bool mapping = b.is_dict() || b.is_undefined() || (b.is_list() && !b.is_tuple());
      return Value(printf_format(a.as_string(), b.is_tuple() ? b.as_list() : List{b}, !mapping));
    }
    return divide(op, a, b);
  }
  if (op == "**") return power(a, b);
  throw EvalError("unknown operator " + op);
}

Value negate(const Value& value) {
  if (value.is_undefined()) throw EvalError(value.undefined_hint());
  if (value.is_float()) return Value(-value.as_double());
  if (value.is_number()) {
    if (value.as_int() == INT64_MIN) throw EvalError("integer overflow");
    return Value(-value.as_int());
  }
  throw EvalError(fmt::format("bad operand type for unary -: '{}'", value.type_name()));
}

Value unary_plus(const Value& value) {
  if (value.is_undefined()) throw EvalError(value.undefined_hint());
  if (value.is_float()) return value;
  if (value.is_number()) return Value(value.as_int());
  throw EvalError(fmt::format("bad operand type for unary +: '{}'", value.type_name()));
}

bool contains(const Value& haystack, const Value& needle) {
  if (haystack.is_string()) {
    if (!needle.is_string())
      throw EvalError(
          fmt::format("'in <string>' requires string as left operand, not {}", needle.type_name()));
    return haystack.as_string().find(needle.as_string()) != std::string::npos;
  }
  if (haystack.is_list()) {
    for (const Value& item : haystack.as_list())
      if (equals(item, needle)) return true;
    return false;
  }
  if (haystack.is_dict() && !haystack.is_namespace() && !haystack.is_loop())
    return haystack.as_dict().find(needle) != nullptr;
  if (haystack.is_undefined()) return false;
  throw EvalError(fmt::format("argument of type '{}' is not iterable", haystack.type_name()));
}

bool compare(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  const auto check = [&](const Value& x, const Value& y) {
    if (x.is_undefined()) throw EvalError(x.undefined_hint());
    if (y.is_undefined()) throw EvalError(y.undefined_hint());
    const bool orderable = (x.is_number() && y.is_number()) || (x.is_string() && y.is_string()) ||
                           (x.is_sequence() && y.is_sequence() && x.is_tuple() == y.is_tuple());
    if (!orderable)
      throw EvalError(fmt::format("'{}' not supported between instances of '{}' and '{}'", op,
                                  x.type_name(), y.type_name()));
  };
  check(a, b);
  if (op == "<") return less_than(a, b);
  if (op == ">") return less_than(b, a);
  if (op == "<=") return !less_than(b, a);
  if (op == ">=") return !less_than(a, b);
  throw EvalError("unknown comparison " + op);
}

}  // namespace dpo::jinja
