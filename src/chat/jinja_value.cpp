// Python semantics of Jinja values: truthiness, str/repr, equality, ordering, json.dumps.
#include "chat/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dpo::jinja {

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : items)
    if (equals(k, key)) return &v;
  return nullptr;
}

Value* Dict::find(const Value& key) {
  for (auto& [k, v] : items)
    if (equals(k, key)) return &v;
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  if (Value* slot = find(key)) {
    *slot = std::move(value);
  } else {
    items.emplace_back(key, std::move(value));
  }
}

Value Value::undefined(std::string hint) {
  Value v;
  v.string_ = std::move(hint);
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value::Value(bool b) : kind_(Kind::Bool), bool_(b) {}
Value::Value(int64_t i) : kind_(Kind::Int), int_(i) {}
Value::Value(double f) : kind_(Kind::Float), float_(f) {}
Value::Value(std::string s) : kind_(Kind::String), string_(std::move(s)) {}

Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::List;
  v.list_ = std::make_shared<List>(std::move(items));
  return v;
}

Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.flag_ = Flag::Tuple;
  return v;
}

Value Value::generator(List items) {
  Value v = list(std::move(items));
  v.flag_ = Flag::Generator;
  return v;
}

Value Value::dict() {
  Value v;
  v.kind_ = Kind::Dict;
  v.dict_ = std::make_shared<Dict>();
  return v;
}

Value Value::namespace_object() {
  Value v = dict();
  v.flag_ = Flag::Namespace;
  return v;
}

Value Value::loop_object() {
  Value v = dict();
  v.flag_ = Flag::Loop;
  return v;
}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.kind_ = Kind::Callable;
  v.callable_ = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& json) {
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
      return none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value(json.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      for (const auto& element : json) items.push_back(from_json(element));
      return list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value v = dict();
      for (const auto& [key, element] : json.items())
        v.as_dict().items.emplace_back(Value(key), from_json(element));
      return v;
    }
    default:
      return none();  // binary / discarded values do not occur in parsed JSON
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return bool_;
    case Kind::Int:
      return int_ != 0;
    case Kind::Float:
      return float_ != 0.0;
    case Kind::String:
      return !string_.empty();
    case Kind::List:
      return flag_ == Flag::Generator || !list_->empty();
    case Kind::Dict:
      return flag_ != Flag::None || !dict_->items.empty();
    case Kind::Callable:
      return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List:
      return flag_ == Flag::Tuple ? "tuple" : flag_ == Flag::Generator ? "generator" : "list";
    case Kind::Dict:
      return flag_ == Flag::Namespace ? "Namespace" : flag_ == Flag::Loop ? "LoopContext" : "dict";
    case Kind::Callable:
      return "function";
  }
  return "object";
}

static std::string join_repr(const List& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i].repr();
  }
  return out;
}

static std::string dict_repr(const Dict& dict) {
  std::string out = "{";
  for (size_t i = 0; i < dict.items.size(); ++i) {
    if (i) out += ", ";
    out += dict.items[i].first.repr() + ": " + dict.items[i].second.repr();
  }
  return out + "}";
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::Undefined:
      return "";
    case Kind::String:
      return string_;
    default:
      return repr();
  }
}

std::string Value::repr() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return bool_ ? "True" : "False";
    case Kind::Int:
      return std::to_string(int_);
    case Kind::Float:
      return python_float_repr(float_);
    case Kind::String:
      return python_string_repr(string_);
    case Kind::List:
      if (flag_ == Flag::Tuple) return "(" + join_repr(*list_) + (list_->size() == 1 ? ",)" : ")");
      if (flag_ == Flag::Generator) return "<generator object>";
      return "[" + join_repr(*list_) + "]";
    case Kind::Dict:
      if (flag_ == Flag::Namespace) return "<Namespace " + dict_repr(*dict_) + ">";
      if (flag_ == Flag::Loop) return "<LoopContext>";
      return dict_repr(*dict_);
    case Kind::Callable:
      return "<function " + callable_->name + ">";
  }
  return "";
}

List Value::iterate() const {
  switch (kind_) {
    case Kind::Undefined:
      return {};
    case Kind::List:
      return *list_;
    case Kind::Dict:
      if (flag_ == Flag::None) {
        List keys;
        for (const auto& item : dict_->items) keys.push_back(item.first);
        return keys;
      }
      break;
    case Kind::String: {
      List chars;
      const std::vector<size_t> offsets = code_point_offsets(string_);
      for (size_t i = 0; i < offsets.size(); ++i) {
        const size_t end = i + 1 < offsets.size() ? offsets[i + 1] : string_.size();
        chars.emplace_back(string_.substr(offsets[i], end - offsets[i]));
      }
      return chars;
    }
    default:
      break;
  }
  throw EvalError(fmt::format("'{}' object is not iterable", type_name()));
}

int64_t Value::length() const {
  switch (kind_) {
    case Kind::Undefined:
      return 0;
    case Kind::String:
      return static_cast<int64_t>(code_point_count(string_));
    case Kind::List:
      if (flag_ == Flag::Generator) break;
      return static_cast<int64_t>(list_->size());
    case Kind::Dict:
      if (flag_ == Flag::None) return static_cast<int64_t>(dict_->items.size());
      break;
    default:
      break;
  }
  throw EvalError(fmt::format("object of type '{}' has no len()", type_name()));
}

bool equals(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::Undefined:
    case K::None:
      return true;
    case K::String:
      return a.as_string() == b.as_string();
    case K::List: {
      if (a.is_generator() || b.is_generator()) return &a.as_list() == &b.as_list();
      if (a.is_tuple() != b.is_tuple()) return false;
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case K::Dict: {
      if (a.is_namespace() || a.is_loop() || b.is_namespace() || b.is_loop())
        return &a.as_dict() == &b.as_dict();
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [key, value] : x.items) {
        const Value* other = y.find(key);
        if (!other || !equals(value, *other)) return false;
      }
      return true;
    }
    case K::Callable:
      return &a.as_callable() == &b.as_callable();
    default:
      return false;
  }
}

bool less_than(const Value& a, const Value& b) {
  if (a.is_undefined()) throw EvalError(a.undefined_hint());
  if (b.is_undefined()) throw EvalError(b.undefined_hint());
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() < b.as_double();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  throw EvalError(fmt::format("'<' not supported between instances of '{}' and '{}'", a.type_name(),
                              b.type_name()));
}

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  // Shortest scientific form that reads back to the same double (Python's repr).
  char buffer[40];
  for (int precision = 0; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*e", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  std::string sci = buffer;
  const size_t e = sci.find('e');
  const int exponent = std::atoi(sci.c_str() + e + 1);
  std::string mantissa = sci.substr(0, e);
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits += c;
  std::string out;
  if (exponent >= -4 && exponent < 16) {  // fixed notation, as repr does for 1e-4 <= |x| < 1e16
    if (exponent < 0) {
      out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out = digits + std::string(static_cast<size_t>(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exponent) + 1) + "." +
            digits.substr(static_cast<size_t>(exponent) + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  }
  return negative ? "-" + out : out;
}

uint32_t decode_utf8(const std::string& text, size_t i, size_t& length) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  length = 1;
  if (lead < 0x80) return lead;
  size_t extra = 0;
  uint32_t cp = 0;
  if ((lead & 0xE0) == 0xC0) {
    extra = 1;
    cp = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    extra = 2;
    cp = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    extra = 3;
    cp = lead & 0x07;
  } else {
    return lead;
  }
  if (i + extra >= text.size()) return lead;
  for (size_t k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return lead;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  length = extra + 1;
  return cp;
}

bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string python_strip(const std::string& text, const std::string* chars, bool left, bool right) {
  std::vector<uint32_t> strip_set;
  if (chars) {
    for (size_t i = 0; i < chars->size();) {
      size_t length = 1;
      strip_set.push_back(decode_utf8(*chars, i, length));
      i += length;
    }
  }
  const auto strippable = [&](uint32_t cp) {
    return chars ? std::find(strip_set.begin(), strip_set.end(), cp) != strip_set.end()
                 : is_python_space(cp);
  };
  const std::vector<size_t> offsets = code_point_offsets(text);
  size_t first = 0;
  size_t last = offsets.size();  // exclusive, in code points
  const auto cp_at = [&](size_t k) {
    size_t length = 1;
    return decode_utf8(text, offsets[k], length);
  };
  if (left)
    while (first < last && strippable(cp_at(first))) ++first;
  if (right)
    while (last > first && strippable(cp_at(last - 1))) --last;
  const size_t begin = first < offsets.size() ? offsets[first] : text.size();
  const size_t end = last < offsets.size() ? offsets[last] : text.size();
  return text.substr(begin, end - begin);
}

std::vector<size_t> code_point_offsets(const std::string& text) {
  std::vector<size_t> offsets;
  for (size_t i = 0; i < text.size();) {
    offsets.push_back(i);
    size_t length = 1;
    decode_utf8(text, i, length);
    i += length;
  }
  return offsets;
}

size_t code_point_count(const std::string& text) {
  size_t count = 0;
  for (size_t i = 0; i < text.size(); ++count) {
    size_t length = 1;
    decode_utf8(text, i, length);
    i += length;
  }
  return count;
}

// Code points Python's str.isprintable() rejects (controls, separators, format characters).
static bool is_unprintable(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
         (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF;
}

std::string python_string_repr(const std::string& text) {
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < text.size();) {
    size_t length = 1;
    const uint32_t cp = decode_utf8(text, i, length);
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (is_unprintable(cp)) {
      out += cp <= 0xFF ? fmt::format("\\x{:02x}", cp) : fmt::format("\\u{:04x}", cp);
    } else {
      out.append(text, i, length);
    }
    i += length;
  }
  return out + quote;
}

static void json_string(const std::string& text, bool ensure_ascii, std::string& out) {
  out += '"';
  for (size_t i = 0; i < text.size();) {
    size_t length = 1;
    const uint32_t cp = decode_utf8(text, i, length);
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (cp < 0x20) {
          out += fmt::format("\\u{:04x}", cp);
        } else if (ensure_ascii && cp >= 0x80) {
          if (cp >= 0x10000) {
            const uint32_t v = cp - 0x10000;
            out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          } else {
            out += fmt::format("\\u{:04x}", cp);
          }
        } else {
          out.append(text, i, length);
        }
    }
    i += length;
  }
  out += '"';
}

static std::string json_float(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  return python_float_repr(value);
}

static std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::String:
      return key.as_string();
    case Value::Kind::Int:
      return std::to_string(key.as_int());
    case Value::Kind::Float:
      return json_float(key.as_double());
    case Value::Kind::Bool:
      return key.as_bool() ? "true" : "false";
    case Value::Kind::None:
      return "null";
    default:
      throw EvalError(
          fmt::format("keys must be str, int, float, bool or None, not {}", key.type_name()));
  }
}

static void write_json(const Value& value, const JsonOptions& options, int level,
                       std::string& out) {
  const auto newline = [&](int depth) {
    if (!options.indented) return std::string();
    std::string s = "\n";
    for (int i = 0; i < depth; ++i) s += options.indent_string;
    return s;
  };
  if (level > 500) throw EvalError("maximum recursion depth exceeded while encoding a JSON object");
  switch (value.kind()) {
    case Value::Kind::None:
      out += "null";
      return;
    case Value::Kind::Bool:
      out += value.as_bool() ? "true" : "false";
      return;
    case Value::Kind::Int:
      out += std::to_string(value.as_int());
      return;
    case Value::Kind::Float:
      out += json_float(value.as_double());
      return;
    case Value::Kind::String:
      json_string(value.as_string(), options.ensure_ascii, out);
      return;
    case Value::Kind::List: {
      if (value.is_generator()) break;
      const List& items = value.as_list();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += "[" + newline(level + 1);
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += options.item_separator + newline(level + 1);
        write_json(items[i], options, level + 1, out);
      }
      out += newline(level) + "]";
      return;
    }
    case Value::Kind::Dict: {
      if (value.is_namespace() || value.is_loop()) break;
      std::vector<std::pair<std::string, const Value*>> entries;
      for (const auto& [key, element] : value.as_dict().items)
        entries.emplace_back(json_key(key), &element);
      if (options.sort_keys)
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      if (entries.empty()) {
        out += "{}";
        return;
      }
      out += "{" + newline(level + 1);
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += options.item_separator + newline(level + 1);
        json_string(entries[i].first, options.ensure_ascii, out);
        out += options.key_separator;
        write_json(*entries[i].second, options, level + 1, out);
      }
      out += newline(level) + "}";
      return;
    }
    default:
      break;
  }
  throw EvalError(fmt::format("Object of type {} is not JSON serializable", value.type_name()));
}

std::string to_python_json(const Value& value, const JsonOptions& options) {
  std::string out;
  write_json(value, options, 0, out);
  return out;
}

}  // namespace dpo::jinja
