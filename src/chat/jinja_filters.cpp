// Jinja's builtin filters and tests (jinja2.filters / jinja2.tests), with transformers' tojson.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

#include "chat/jinja_builtins.h"
#include "util/strings.h"

namespace dpo::jinja {
namespace {

using FilterFn = Value (*)(const Value&, CallArgs&);
using TestFn = bool (*)(const Value&, CallArgs&);

Value single_arg(const char* name, CallArgs& args) {
  ArgReader a(name, args, {"value"});
  return a.get(0);
}

// ---- strings ----

Value f_trim(const Value& v, CallArgs& args) {
  ArgReader a("trim", args, {"chars"});
  const Value& chars = a.get(0);
  return Value(python_strip(v.str(), chars.is_string() ? &chars.as_string() : nullptr, true, true));
}
Value f_upper(const Value& v, CallArgs& args) {
  ArgReader("upper", args, {});
  return Value(python_upper(v.str()));
}
Value f_lower(const Value& v, CallArgs& args) {
  ArgReader("lower", args, {});
  return Value(python_lower(v.str()));
}
Value f_capitalize(const Value& v, CallArgs& args) {
  ArgReader("capitalize", args, {});
  return Value(python_capitalize(v.str()));
}

// Jinja's title: words start after '-', whitespace or an opening bracket.
Value f_title(const Value& v, CallArgs& args) {
  ArgReader("title", args, {});
  const std::string text = v.str();
  std::string out;
  bool word_start = true;
  for (size_t i = 0; i < text.size();) {
    size_t length = 1;
    const uint32_t cp = decode_utf8(text, i, length);
    const std::string piece = text.substr(i, length);
    const bool separator =
        cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || is_python_space(cp);
    out += separator ? piece : word_start ? python_upper(piece) : python_lower(piece);
    word_start = separator;
    i += length;
  }
  return Value(std::move(out));
}

Value f_replace(const Value& v, CallArgs& args) {
  ArgReader a("replace", args, {"old", "new", "count"});
  const int64_t count = a.has(1) && a.has(2) && !a.get(2).is_none() ? a.get(2).as_int() : -1;
  return Value(python_replace(v.str(), a.get(0).str(), a.get(1).str(), count));
}

Value f_string(const Value& v, CallArgs& args) {
  ArgReader("string", args, {});
  return Value(v.str());
}
Value f_safe(const Value& v, CallArgs& args) {
  ArgReader("safe", args, {});
  return Value(v.str());  // Markup(value) is a str
}

Value f_escape(const Value& v, CallArgs& args) {
  ArgReader("escape", args, {});
  return Value(escape_html(v.str(), "&#34;"));  // markupsafe's entities
}

// jinja2's indent: the first line is left alone unless `first`; blank lines unless `blank`.
Value f_indent(const Value& v, CallArgs& args) {
  ArgReader a("indent", args, {"width", "first", "blank"});
  if (!v.is_string())
    throw EvalError(
        fmt::format("unsupported operand type(s) for +=: '{}' and 'str'", v.type_name()));
  const Value& width = a.get(0);
  const std::string indentation =
      width.is_string()
          ? width.as_string()
          : std::string(static_cast<size_t>(std::max<int64_t>(0, a.has(0) ? width.as_int() : 4)),
                        ' ');
  const std::vector<std::string> lines = python_splitlines(v.str() + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\n";
    const bool indent_it = i == 0 ? a.get(1).truthy() : (a.get(2).truthy() || !lines[i].empty());
    if (indent_it) out += indentation;
    out += lines[i];
  }
  if (lines.empty() && a.get(1).truthy()) out = indentation;
  return Value(std::move(out));
}

Value f_format(const Value& v, CallArgs& args) {
  const List values = args.positional;
  return Value(printf_format(v.str(), values, true));
}

// ---- numbers ----

Value f_int(const Value& v, CallArgs& args) {
  ArgReader a("int", args, {"default", "base"});
  if (v.is_undefined()) throw EvalError(v.undefined_hint());
  const Value fallback = a.get_or(0, Value(int64_t{0}));
  if (v.is_float()) {
    if (!std::isfinite(v.as_double()) || std::fabs(v.as_double()) > 9.2e18) return fallback;
    return Value(static_cast<int64_t>(v.as_double()));
  }
  if (v.is_number()) return Value(v.as_int());
  const std::string text = python_strip(v.str(), nullptr, true, true);
  const int base = a.has(1) ? static_cast<int>(a.get(1).as_int()) : 10;
  if (!text.empty() && base >= 2 && base <= 36) {
    errno = 0;
    char* end = nullptr;
    const long long parsed = std::strtoll(text.c_str(), &end, base);
    if (errno == 0 && end == text.c_str() + text.size()) return Value(static_cast<int64_t>(parsed));
    const double as_float = std::strtod(text.c_str(), &end);
    if (end == text.c_str() + text.size() && std::isfinite(as_float) &&
        std::fabs(as_float) < 9.2e18)
      return Value(static_cast<int64_t>(as_float));
  }
  return fallback;
}

Value f_float(const Value& v, CallArgs& args) {
  ArgReader a("float", args, {"default"});
  if (v.is_undefined()) throw EvalError(v.undefined_hint());
  if (v.is_number()) return Value(v.as_double());
  const std::string text = python_strip(v.str(), nullptr, true, true);
  char* end = nullptr;
  const double parsed = std::strtod(text.c_str(), &end);
  if (!text.empty() && end == text.c_str() + text.size()) return Value(parsed);
  return a.get_or(0, Value(0.0));
}

Value f_abs(const Value& v, CallArgs& args) {
  ArgReader("abs", args, {});
  if (v.is_float()) return Value(std::fabs(v.as_double()));
  if (v.is_number()) return v.as_int() < 0 ? negate(v) : Value(v.as_int());
  throw EvalError(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
}

Value f_round(const Value& v, CallArgs& args) {
  ArgReader a("round", args, {"precision", "method"});
  if (!v.is_number())
    throw EvalError(fmt::format("type {} doesn't define __round__ method", v.type_name()));
  const int64_t precision = a.has(0) ? a.get(0).as_int() : 0;
  const std::string method = a.has(1) ? a.get(1).str() : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    throw EvalError("method must be common, ceil or floor");
  if (method == "common") {
    if (!v.is_float()) return Value(v.as_int());  // round(int, n) stays an int
    if (precision < 0 || precision > 300) return Value(v.as_double());
    // printf rounds the exact binary value half-to-even, as Python's round does.
    const std::string text = fmt::format("{:.{}f}", v.as_double(), precision);
    return Value(std::strtod(text.c_str(), nullptr));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_double() * scale;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

// ---- sequences ----

Value f_length(const Value& v, CallArgs& args) {
  ArgReader("length", args, {});
  return Value(v.length());
}

Value f_first(const Value& v, CallArgs& args) {
  ArgReader("first", args, {});
  const List items = v.iterate();
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(const Value& v, CallArgs& args) {
  ArgReader("last", args, {});
  const List items = v.iterate();
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_list(const Value& v, CallArgs& args) {
  ArgReader("list", args, {});
  return Value::list(v.iterate());
}

Value f_reverse(const Value& v, CallArgs& args) {
  ArgReader("reverse", args, {});
  if (v.is_string()) return get_slice(v, Value::none(), Value::none(), Value(int64_t{-1}));
  List items = v.iterate();
  std::reverse(items.begin(), items.end());
  return Value::generator(std::move(items));  // reversed(): an iterator
}

// attribute "a.b.0" looked up as Jinja's make_attrgetter does.
Value attribute_of(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(),
                                                      [](char c) { return c >= '0' && c <= '9'; });
    current =
        get_item(current, numeric ? Value(static_cast<int64_t>(std::stoll(part.substr(0, 18))))
                                  : Value(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return current;
}

Value f_join(const Value& v, CallArgs& args) {
  ArgReader a("join", args, {"d", "attribute"});
  const std::string separator = a.has(0) ? a.get(0).str() : "";
  std::string out;
  const List items = v.iterate();
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    out +=
        (a.has(1) && !a.get(1).is_none() ? attribute_of(items[i], a.get(1).str()) : items[i]).str();
  }
  return Value(std::move(out));
}

Value f_default(const Value& v, CallArgs& args) {
  ArgReader a("default", args, {"default_value", "boolean"});
  const bool use_default = v.is_undefined() || (a.get(1).truthy() && !v.truthy());
  return use_default ? a.get_or(0, Value(std::string())) : v;
}

Value f_items(const Value& v, CallArgs& args) {
  ArgReader("items", args, {});
  if (v.is_undefined()) return Value::generator({});
  if (!v.is_dict() || v.is_namespace() || v.is_loop())
    throw EvalError("Can only get item pairs from a mapping.");
  List out;
  for (const auto& [key, value] : v.as_dict().items) out.push_back(Value::tuple({key, value}));
  return Value::generator(std::move(out));
}

Value f_tojson(const Value& v, CallArgs& args) {
  ArgReader a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions options;
  options.ensure_ascii = a.get(0).truthy();
  const Value& indent = a.get(1);
  if (!indent.is_undefined() && !indent.is_none()) {
    options.indented = true;
    options.item_separator = ",";
    if (indent.is_string()) {
      options.indent_string = indent.as_string();
    } else if (indent.is_int() || indent.is_bool()) {
      options.indent_string =
          std::string(static_cast<size_t>(std::clamp<int64_t>(indent.as_int(), 0, 1000)), ' ');
    } else {
      throw EvalError("tojson indent must be an int or a str");
    }
  }
  const Value& separators = a.get(2);
  if (!separators.is_undefined() && !separators.is_none()) {
    const List pair = separators.iterate();
    if (pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string())
      throw EvalError("tojson separators must be a pair of strings");
    options.item_separator = pair[0].as_string();
    options.key_separator = pair[1].as_string();
  }
  options.sort_keys = a.get(3).truthy();
  return Value(to_python_json(v, options));
}

Value sort_key(const Value& item, const Value& attribute, bool case_sensitive) {
  Value key =
      attribute.is_undefined() || attribute.is_none() ? item : attribute_of(item, attribute.str());
  if (!case_sensitive && key.is_string()) return Value(python_lower(key.as_string()));
  return key;
}

Value f_sort(const Value& v, CallArgs& args) {
  ArgReader a("sort", args, {"reverse", "case_sensitive", "attribute"});
  List items = v.iterate();
  const bool reverse = a.get(0).truthy();
  const bool case_sensitive = a.get(1).truthy();
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value kx = sort_key(x, a.get(2), case_sensitive);
    const Value ky = sort_key(y, a.get(2), case_sensitive);
    return reverse ? less_than(ky, kx) : less_than(kx, ky);
  });
  return Value::list(std::move(items));
}

Value f_dictsort(const Value& v, CallArgs& args) {
  ArgReader a("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw EvalError("You can only sort by either \"key\" or \"value\"");
  const std::string by = a.has(1) ? a.get(1).str() : "key";
  if (by != "key" && by != "value")
    throw EvalError("You can only sort by either \"key\" or \"value\"");
  const size_t position = by == "key" ? 0 : 1;
  const bool case_sensitive = a.get(0).truthy();
  const bool reverse = a.get(2).truthy();
  List items;
  for (const auto& [key, value] : v.as_dict().items) items.push_back(Value::tuple({key, value}));
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value kx = sort_key(x.as_list()[position], Value(), case_sensitive);
    const Value ky = sort_key(y.as_list()[position], Value(), case_sensitive);
    return reverse ? less_than(ky, kx) : less_than(kx, ky);
  });
  return Value::list(std::move(items));
}

Value f_unique(const Value& v, CallArgs& args) {
  ArgReader a("unique", args, {"case_sensitive", "attribute"});
  List out;
  List seen;
  for (const Value& item : v.iterate()) {
    const Value key = sort_key(item, a.get(1), a.get(0).truthy());
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, key); }))
      continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::generator(std::move(out));
}

Value min_or_max(const Value& v, CallArgs& args, bool want_max, const char* name) {
  ArgReader a(name, args, {"case_sensitive", "attribute"});
  const List items = v.iterate();
  if (items.empty())
    return Value::undefined(fmt::format("No aggregated item, sequence was empty."));
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    const Value ki = sort_key(items[i], a.get(1), a.get(0).truthy());
    const Value kb = sort_key(items[best], a.get(1), a.get(0).truthy());
    if (want_max ? less_than(kb, ki) : less_than(ki, kb)) best = i;
  }
  return items[best];
}
Value f_min(const Value& v, CallArgs& args) {
  return min_or_max(v, args, false, "min");
}
Value f_max(const Value& v, CallArgs& args) {
  return min_or_max(v, args, true, "max");
}

Value f_sum(const Value& v, CallArgs& args) {
  ArgReader a("sum", args, {"attribute", "start"});
  Value total = a.get_or(1, Value(int64_t{0}));
  for (const Value& item : v.iterate())
    total = binary_operation(
        "+", total, a.has(0) && !a.get(0).is_none() ? attribute_of(item, a.get(0).str()) : item);
  return total;
}

// select / reject / selectattr / rejectattr
Value filter_items(const Value& v, CallArgs& args, bool by_attribute, bool keep_when,
                   const char* name) {
  if (args.positional.empty() && by_attribute)
    throw EvalError(fmt::format("{}() missing the attribute", name));
  std::string attribute;
  size_t next = 0;
  if (by_attribute) attribute = args.positional[next++].str();
  std::string test;
  if (next < args.positional.size()) test = args.positional[next++].str();
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next),
                              args.positional.end());
  test_args.keyword = args.keyword;
  if (!test.empty() && !has_test(test)) throw EvalError(fmt::format("No test named '{}'.", test));
  List out;
  if (!v.truthy()) return Value::generator({});  // jinja2 iterates only `if value`
  for (const Value& item : v.iterate()) {
    const Value subject = by_attribute ? attribute_of(item, attribute) : item;
    CallArgs call = test_args;
    const bool passed = test.empty() ? subject.truthy() : apply_test(test, subject, call);
    if (passed == keep_when) out.push_back(item);
  }
  return Value::generator(std::move(out));
}
Value f_select(const Value& v, CallArgs& args) {
  return filter_items(v, args, false, true, "select");
}
Value f_reject(const Value& v, CallArgs& args) {
  return filter_items(v, args, false, false, "reject");
}
Value f_selectattr(const Value& v, CallArgs& args) {
  return filter_items(v, args, true, true, "selectattr");
}
Value f_rejectattr(const Value& v, CallArgs& args) {
  return filter_items(v, args, true, false, "rejectattr");
}

Value f_map(const Value& v, CallArgs& args) {
  List out;
  if (!v.truthy()) return Value::generator({});  // jinja2 iterates only `if value`
  const auto attribute = std::find_if(args.keyword.begin(), args.keyword.end(),
                                      [](const auto& kv) { return kv.first == "attribute"; });
  if (attribute != args.keyword.end()) {
    const auto fallback = std::find_if(args.keyword.begin(), args.keyword.end(),
                                       [](const auto& kv) { return kv.first == "default"; });
    for (const Value& item : v.iterate()) {
      Value value = attribute_of(item, attribute->second.str());
      if (value.is_undefined() && fallback != args.keyword.end()) value = fallback->second;
      out.push_back(value);
    }
    return Value::generator(std::move(out));
  }
  if (args.positional.empty()) throw EvalError("map requires a filter argument");
  const std::string filter = args.positional[0].str();
  if (!has_filter(filter)) throw EvalError(fmt::format("No filter named '{}'.", filter));
  CallArgs filter_args;
  filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
  filter_args.keyword = args.keyword;
  for (const Value& item : v.iterate()) {
    CallArgs call = filter_args;
    out.push_back(apply_filter(filter, item, call));
  }
  return Value::generator(std::move(out));
}

Value f_attr(const Value& v, CallArgs& args) {
  ArgReader a("attr", args, {"name"});
  return get_attribute(v, a.get(0).str());
}

Value f_wordcount(const Value& v, CallArgs& args) {
  ArgReader("wordcount", args, {});
  int64_t words = 0;
  bool in_word = false;
  for (unsigned char c :
       v.str()) {  // runs of \w (letters, digits, _; non-ASCII counts as a letter)
    const bool word_char = std::isalnum(c) || c == '_' || c >= 0x80;
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value(words);
}

Value f_center(const Value& v, CallArgs& args) {
  ArgReader a("center", args, {"width"});
  const std::string text = v.str();
  const int64_t width = a.has(0) ? a.get(0).as_int() : 80;
  const auto length = static_cast<int64_t>(code_point_count(text));
  if (width <= length) return Value(text);
  const int64_t pad = std::min<int64_t>(width - length, 1 << 20);
  const int64_t left = pad / 2 + (pad & width & 1);
  return Value(std::string(static_cast<size_t>(left), ' ') + text +
               std::string(static_cast<size_t>(pad - left), ' '));
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> table = {
      {"abs", f_abs},
      {"attr", f_attr},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"first", f_first},
      {"float", f_float},
      {"forceescape", f_escape},
      {"format", f_format},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"sort", f_sort},
      {"string", f_string},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"unique", f_unique},
      {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return table;
}

// ---- tests ----

bool t_defined(const Value& v, CallArgs& args) {
  ArgReader("defined", args, {});
  return !v.is_undefined();
}
bool t_undefined(const Value& v, CallArgs& args) {
  ArgReader("undefined", args, {});
  return v.is_undefined();
}
bool t_none(const Value& v, CallArgs& args) {
  ArgReader("none", args, {});
  return v.is_none();
}
bool t_boolean(const Value& v, CallArgs& args) {
  ArgReader("boolean", args, {});
  return v.is_bool();
}
bool t_true(const Value& v, CallArgs& args) {
  ArgReader("true", args, {});
  return v.is_bool() && v.as_bool();
}
bool t_false(const Value& v, CallArgs& args) {
  ArgReader("false", args, {});
  return v.is_bool() && !v.as_bool();
}
bool t_integer(const Value& v, CallArgs& args) {
  ArgReader("integer", args, {});
  return v.is_int();
}
bool t_float(const Value& v, CallArgs& args) {
  ArgReader("float", args, {});
  return v.is_float();
}
bool t_number(const Value& v, CallArgs& args) {
  ArgReader("number", args, {});
  return v.is_number();
}
bool t_string(const Value& v, CallArgs& args) {
  ArgReader("string", args, {});
  return v.is_string();
}
bool t_mapping(const Value& v, CallArgs& args) {
  ArgReader("mapping", args, {});
  return v.is_dict() && !v.is_namespace() && !v.is_loop();
}
bool t_iterable(const Value& v, CallArgs& args) {
  ArgReader("iterable", args, {});
  return v.is_undefined() || v.is_string() || v.is_list() ||
         (v.is_dict() && !v.is_namespace() && !v.is_loop());
}
bool t_sequence(const Value& v, CallArgs& args) {
  ArgReader("sequence", args, {});
  return v.is_undefined() || v.is_string() || v.is_sequence() ||
         (v.is_dict() && !v.is_namespace() && !v.is_loop());
}
bool t_callable(const Value& v, CallArgs& args) {
  ArgReader("callable", args, {});
  return v.is_callable() || v.is_undefined();
}
bool t_eq(const Value& v, CallArgs& args) {
  return equals(v, single_arg("eq", args));
}
bool t_ne(const Value& v, CallArgs& args) {
  return !equals(v, single_arg("ne", args));
}
bool t_lt(const Value& v, CallArgs& args) {
  return compare("<", v, single_arg("lt", args));
}
bool t_le(const Value& v, CallArgs& args) {
  return compare("<=", v, single_arg("le", args));
}
bool t_gt(const Value& v, CallArgs& args) {
  return compare(">", v, single_arg("gt", args));
}
bool t_ge(const Value& v, CallArgs& args) {
  return compare(">=", v, single_arg("ge", args));
}
bool t_in(const Value& v, CallArgs& args) {
  return contains(single_arg("in", args), v);
}
bool t_sameas(const Value& v, CallArgs& args) {
  const Value other = single_arg("sameas", args);
  if (v.kind() != other.kind()) return false;
  if (v.is_none() || v.is_undefined()) return true;
  if (v.is_bool()) return v.as_bool() == other.as_bool();
  if (v.is_list()) return &v.as_list() == &other.as_list();
  if (v.is_dict()) return &v.as_dict() == &other.as_dict();
  return equals(v, other) && (v.is_int() ? v.as_int() >= -5 && v.as_int() <= 256 : false);
}
bool t_odd(const Value& v, CallArgs& args) {  // value % 2 == 1
  ArgReader("odd", args, {});
  return equals(binary_operation("%", v, Value(int64_t{2})), Value(int64_t{1}));
}
bool t_even(const Value& v, CallArgs& args) {  // value % 2 == 0
  ArgReader("even", args, {});
  return equals(binary_operation("%", v, Value(int64_t{2})), Value(int64_t{0}));
}
bool t_divisibleby(const Value& v, CallArgs& args) {
  const Value n = single_arg("divisibleby", args);
  return binary_operation("%", v, n).truthy() == false;
}
bool t_lower(const Value& v, CallArgs& args) {
  ArgReader("lower", args, {});
  const std::string s = v.str();
  return python_lower(s) == s && python_upper(s) != s;
}
bool t_upper(const Value& v, CallArgs& args) {
  ArgReader("upper", args, {});
  const std::string s = v.str();
  return python_upper(s) == s && python_lower(s) != s;
}
bool t_escaped(const Value&, CallArgs& args) {
  ArgReader("escaped", args, {});
  return false;
}
bool t_filter(const Value& v, CallArgs& args) {
  ArgReader("filter", args, {});
  return v.is_string() && has_filter(v.as_string());
}
bool t_test(const Value& v, CallArgs& args) {
  ArgReader("test", args, {});
  return v.is_string() && has_test(v.as_string());
}

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> table = {
      {"boolean", t_boolean},
      {"callable", t_callable},
      {"defined", t_defined},
      {"divisibleby", t_divisibleby},
      {"eq", t_eq},
      {"==", t_eq},
      {"equalto", t_eq},
      {"escaped", t_escaped},
      {"even", t_even},
      {"false", t_false},
      {"filter", t_filter},
      {"float", t_float},
      {"ge", t_ge},
      {">=", t_ge},
      {"gt", t_gt},
      {">", t_gt},
      {"greaterthan", t_gt},
      {"in", t_in},
      {"integer", t_integer},
      {"iterable", t_iterable},
      {"le", t_le},
      {"<=", t_le},
      {"lower", t_lower},
      {"lt", t_lt},
      {"<", t_lt},
      {"lessthan", t_lt},
      {"mapping", t_mapping},
      {"ne", t_ne},
      {"!=", t_ne},
      {"none", t_none},
      {"number", t_number},
      {"odd", t_odd},
      {"sameas", t_sameas},
      {"sequence", t_sequence},
      {"string", t_string},
      {"test", t_test},
      {"true", t_true},
      {"undefined", t_undefined},
      {"upper", t_upper},
  };
  return table;
}

}  // namespace

bool has_filter(const std::string& name) {
  return filters().count(name) > 0;
}
bool has_test(const std::string& name) {
  return tests().count(name) > 0;
}

Value apply_filter(const std::string& name, const Value& input, CallArgs& args) {
  const auto it = filters().find(name);
  if (it == filters().end()) throw EvalError(fmt::format("No filter named '{}'.", name));
  return it->second(input, args);
}

bool apply_test(const std::string& name, const Value& input, CallArgs& args) {
  const auto it = tests().find(name);
  if (it == tests().end()) throw EvalError(fmt::format("No test named '{}'.", name));
  return it->second(input, args);
}

}  // namespace dpo::jinja
