// Attribute and item access (Jinja's getattr/getitem under transformers' immutable sandbox),
// Python's str/dict/list methods, and the global functions templates call.
#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "chat/jinja_builtins.h"
#include "util/error.h"

namespace dpo::jinja {

// ---- argument binding ----

ArgReader::ArgReader(const char* function, CallArgs& args, std::vector<const char*> names)
    : values_(names.size()), present_(names.size(), false) {
  const bool variadic = !names.empty() && std::string(names.back()) == "*";
  const size_t fixed = variadic ? names.size() - 1 : names.size();
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < fixed) {
      values_[i] = args.positional[i];
      present_[i] = true;
    } else if (variadic) {
      extra_.push_back(args.positional[i]);
    } else {
      throw EvalError(fmt::format("{}() takes at most {} argument(s) ({} given)", function, fixed,
                                  args.positional.size()));
    }
  }
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < fixed && key != names[i]) ++i;
    if (i == fixed)
      throw EvalError(fmt::format("{}() got an unexpected keyword argument '{}'", function, key));
    if (present_[i])
      throw EvalError(fmt::format("{}() got multiple values for argument '{}'", function, key));
    values_[i] = value;
    present_[i] = true;
  }
}

bool ArgReader::has(size_t index) const {
  return index < present_.size() && present_[index];
}

const Value& ArgReader::get(size_t index) const {
  static const Value absent;
  return has(index) ? values_[index] : absent;
}

Value ArgReader::get_or(size_t index, Value fallback) const {
  return has(index) ? values_[index] : fallback;
}

namespace {

const std::string& require_string(const Value& value, const char* what) {
  if (!value.is_string())
    throw EvalError(fmt::format("{} must be str, not {}", what, value.type_name()));
  return value.as_string();
}

int64_t require_int(const Value& value, const char* what) {
  if (!value.is_int() && !value.is_bool())
    throw EvalError(fmt::format("{}: '{}' object cannot be interpreted as an integer", what,
                                value.type_name()));
  return value.as_int();
}

// ---- case mapping (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic) ----

uint32_t lower_cp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
  if (c >= 0x100 && c <= 0x17F) {
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (c == 0x178) return 0xFF;
    if (odd_upper) return (c % 2 == 1) ? c + 1 : c;
    if (c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F)
      return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

uint32_t upper_cp(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c == 0xFF) return 0x178;
  if (c >= 0x100 && c <= 0x17F) {
    const bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper) return (c % 2 == 0) ? c - 1 : c;
    if (c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F)
      return (c % 2 == 1) ? c - 1 : c;
  }
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}

bool is_cased(uint32_t c) {
  return lower_cp(c) != c || upper_cp(c) != c || c == 0xDF;
}

template <typename Map>
std::string map_code_points(const std::string& text, Map map) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t length = 1;
    const uint32_t cp = decode_utf8(text, i, length);
    if (length == 1 && cp >= 0x80) {
      out += text[i];  // an invalid byte stays as it is
    } else {
      map(cp, out);
    }
    i += length;
  }
  return out;
}

}  // namespace

std::string python_upper(const std::string& text) {
  return map_code_points(text, [](uint32_t cp, std::string& out) {
    if (cp == 0xDF) {
      out += "SS";
    } else {
      append_utf8(out, upper_cp(cp));
    }
  });
}

std::string python_lower(const std::string& text) {
  return map_code_points(text,
                         [](uint32_t cp, std::string& out) { append_utf8(out, lower_cp(cp)); });
}

std::string python_title(const std::string& text) {
  bool previous_cased = false;
  return map_code_points(text, [&](uint32_t cp, std::string& out) {
    if (previous_cased) {
      append_utf8(out, lower_cp(cp));
    } else if (cp == 0xDF) {
      out += "Ss";
    } else {
      append_utf8(out, upper_cp(cp));
    }
    previous_cased = is_cased(cp);
  });
}

std::string python_capitalize(const std::string& text) {
  bool first = true;
  return map_code_points(text, [&](uint32_t cp, std::string& out) {
    if (first && cp == 0xDF) {
      out += "Ss";
    } else {
      append_utf8(out, first ? upper_cp(cp) : lower_cp(cp));
    }
    first = false;
  });
}

std::string python_replace(const std::string& text, const std::string& old,
                           const std::string& replacement, int64_t count) {
  std::string out;
  if (old.empty()) {
    const std::vector<size_t> offsets = code_point_offsets(text);
    int64_t done = 0;
    for (size_t k = 0; k <= offsets.size(); ++k) {
      if (count < 0 || done < count) {
        out += replacement;
        ++done;
      }
      if (k < offsets.size())
        out.append(text, offsets[k],
                   (k + 1 < offsets.size() ? offsets[k + 1] : text.size()) - offsets[k]);
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = text.find(old, pos);
    if (hit == std::string::npos) break;
    out.append(text, pos, hit - pos);
    out += replacement;
    pos = hit + old.size();
    ++done;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

std::vector<std::string> python_splitlines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  for (size_t i = 0; i < text.size();) {
    size_t length = 1;
    const uint32_t cp = decode_utf8(text, i, length);
    const bool is_break = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C ||
                          cp == 0x1D || cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (is_break) {
      lines.push_back(line);
      line.clear();
      if (cp == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      line.append(text, i, length);
    }
    i += length;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

std::vector<std::string> python_split(const std::string& text, const std::string* separator,
                                      int64_t maxsplit) {
  std::vector<std::string> parts;
  if (separator) {
    if (separator->empty()) throw EvalError("empty separator");
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      const size_t hit = text.find(*separator, pos);
      if (hit == std::string::npos) break;
      parts.push_back(text.substr(pos, hit - pos));
      pos = hit + separator->size();
    }
    parts.push_back(text.substr(pos));
    return parts;
  }
  // Runs of whitespace separate; leading and trailing whitespace make no empty parts.
  size_t i = 0;
  const auto space_at = [&](size_t k, size_t& length) {
    return is_python_space(decode_utf8(text, k, length));
  };
  while (i < text.size()) {
    size_t length = 1;
    while (i < text.size() && space_at(i, length)) i += length;
    if (i >= text.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
      std::string rest = python_strip(text.substr(i), nullptr, false, true);
      parts.push_back(rest);
      break;
    }
    const size_t start = i;
    while (i < text.size() && !space_at(i, length)) i += length;
    parts.push_back(text.substr(start, i - start));
  }
  return parts;
}

namespace {

// "'dict object'" / "'None'" as Jinja names an object in its undefined messages.
std::string object_description(const Value& object) {
  if (object.is_none()) return "'None'";
  return "'" + object.type_name() + " object'";
}

Value missing_attribute(const Value& object, const std::string& name) {
  return Value::undefined(
      fmt::format("{} has no attribute '{}'", object_description(object), name));
}

Value bound(const Value& object, const std::string& name,
            Value (*method)(const Value&, const std::string&, CallArgs&)) {
  return Value::function(
      name, [object, name, method](CallArgs& args) { return method(object, name, args); });
}

bool starts_or_ends(const Value& self, CallArgs& args, bool at_start) {
  ArgReader a(at_start ? "startswith" : "endswith", args, {"prefix", "start", "end"});
  std::string text = self.as_string();
  if (a.has(1) || a.has(2)) {
    const Value part =
        get_slice(self, a.get_or(1, Value::none()), a.get_or(2, Value::none()), Value::none());
    text = part.as_string();
  }
  const auto test = [&](const Value& affix) {
    const std::string& s =
        require_string(affix, at_start ? "startswith first arg" : "endswith first arg");
    if (s.size() > text.size()) return false;
    return at_start ? text.compare(0, s.size(), s) == 0
                    : text.compare(text.size() - s.size(), s.size(), s) == 0;
  };
  const Value& affix = a.get(0);
  if (affix.is_tuple()) {
    for (const Value& item : affix.as_list())
      if (test(item)) return true;
    return false;
  }
  return test(affix);
}

std::string python_format(const std::string& pattern, CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '}') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '}')
        ++i;
      else
        throw EvalError("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < pattern.size() && pattern[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = pattern.find('}', i);
    if (close == std::string::npos) throw EvalError("Single '{' encountered in format string");
    const std::string field = pattern.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos)
      throw EvalError("format fields with conversions, specs or attributes are not supported");
    if (field.empty() ||
        std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t index = field.empty() ? auto_index++ : std::stoul(field.substr(0, 9));
      if (index >= args.positional.size())
        throw EvalError(fmt::format("Replacement index {} out of range", index));
      out += args.positional[index].str();
    } else {
      const auto it = std::find_if(args.keyword.begin(), args.keyword.end(),
                                   [&](const auto& kv) { return kv.first == field; });
      if (it == args.keyword.end()) throw EvalError("KeyError: '" + field + "'");
      out += it->second.str();
    }
    i = close;
  }
  return out;
}

int64_t code_point_index(const std::string& text, size_t byte_offset) {
  return static_cast<int64_t>(code_point_count(text.substr(0, byte_offset)));
}

Value string_method(const Value& self, const std::string& name, CallArgs& args) {
  const std::string& s = self.as_string();
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgReader a(name.c_str(), args, {"chars"});
    const Value& chars = a.get(0);
    const std::string* set = chars.is_string() ? &chars.as_string() : nullptr;
    if (!chars.is_undefined() && !chars.is_none() && !set) require_string(chars, "strip arg");
    return Value(python_strip(s, set, name != "rstrip", name != "lstrip"));
  }
  if (name == "startswith" || name == "endswith")
    return Value(starts_or_ends(self, args, name == "startswith"));
  if (name == "split" || name == "rsplit") {
    ArgReader a(name.c_str(), args, {"sep", "maxsplit"});
    const Value& sep = a.get(0);
    const std::string* separator = sep.is_string() ? &sep.as_string() : nullptr;
    if (!sep.is_undefined() && !sep.is_none() && !separator) require_string(sep, "separator");
    const int64_t maxsplit = a.has(1) ? require_int(a.get(1), "maxsplit") : -1;
    if (name == "rsplit" && maxsplit >= 0) throw EvalError("rsplit with maxsplit is not supported");
    List parts;
    for (std::string& part : python_split(s, separator, maxsplit))
      parts.emplace_back(std::move(part));
    return Value::list(std::move(parts));
  }
  if (name == "splitlines") {
    ArgReader a("splitlines", args, {});
    List parts;
    for (std::string& part : python_splitlines(s)) parts.emplace_back(std::move(part));
    return Value::list(std::move(parts));
  }
  ArgReader none_expected(name.c_str(), args, {"a", "b", "c"});
  if (name == "upper") return Value(python_upper(s));
  if (name == "lower") return Value(python_lower(s));
  if (name == "title") return Value(python_title(s));
  if (name == "capitalize") return Value(python_capitalize(s));
  if (name == "replace") {
    const std::string& old = require_string(none_expected.get(0), "replace() argument 1");
    const std::string& replacement = require_string(none_expected.get(1), "replace() argument 2");
    const int64_t count = none_expected.has(2) ? require_int(none_expected.get(2), "count") : -1;
    return Value(python_replace(s, old, replacement, count));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    const std::string& sub = require_string(none_expected.get(0), "must be");
    const size_t hit = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
    if (hit == std::string::npos) {
      if (name.find("index") != std::string::npos) throw EvalError("substring not found");
      return Value(int64_t{-1});
    }
    return Value(code_point_index(s, hit));
  }
  if (name == "count") {
    const std::string& sub = require_string(none_expected.get(0), "must be");
    if (sub.empty()) return Value(static_cast<int64_t>(code_point_count(s)) + 1);
    int64_t n = 0;
    for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size()))
      ++n;
    return Value(n);
  }
  if (name == "join") {
    std::string out;
    const List items = none_expected.get(0).iterate();
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string())
        throw EvalError(fmt::format("sequence item {}: expected str instance, {} found", i,
                                    items[i].type_name()));
      if (i) out += s;
      out += items[i].as_string();
    }
    return Value(std::move(out));
  }
  const auto all_of = [&](auto predicate) {
    if (s.empty()) return Value(false);
    for (unsigned char c : s)
      if (!predicate(c)) return Value(false);
    return Value(true);
  };
  if (name == "isdigit") return all_of([](unsigned char c) { return c >= '0' && c <= '9'; });
  if (name == "isalpha")
    return all_of([](unsigned char c) { return std::isalpha(c) || c >= 0x80; });
  if (name == "isalnum")
    return all_of([](unsigned char c) { return std::isalnum(c) || c >= 0x80; });
  if (name == "isspace") return Value(!s.empty() && python_strip(s, nullptr, true, true).empty());
  if (name == "islower") return Value(python_lower(s) == s && python_upper(s) != s);
  if (name == "isupper") return Value(python_upper(s) == s && python_lower(s) != s);
  throw EvalError("unknown str method " + name);
}

Value string_format_method(const Value& self, const std::string&, CallArgs& args) {
  return Value(python_format(self.as_string(), args));
}

Value dict_method(const Value& self, const std::string& name, CallArgs& args) {
  const Dict& dict = self.as_dict();
  if (name == "get") {
    ArgReader a("get", args, {"key", "default"});
    const Value* found = dict.find(a.get(0));
    return found ? *found : a.get_or(1, Value::none());
  }
  ArgReader a(name.c_str(), args, {});
  List out;
  if (name == "copy") {
    Value copy = Value::dict();
    copy.as_dict() = dict;
    return copy;
  }
  for (const auto& [key, value] : dict.items) {
    if (name == "items") out.push_back(Value::tuple({key, value}));
    if (name == "keys") out.push_back(key);
    if (name == "values") out.push_back(value);
  }
  return Value::list(std::move(out));
}

Value list_method(const Value& self, const std::string& name, CallArgs& args) {
  const List& items = self.as_list();
  if (name == "copy") {
    ArgReader a("copy", args, {});
    return Value::list(items);
  }
  ArgReader a(name.c_str(), args, {"value"});
  int64_t count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!equals(items[i], a.get(0))) continue;
    if (name == "index") return Value(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") throw EvalError(fmt::format("{} is not in list", a.get(0).repr()));
  return Value(count);
}

bool is_one_of(const std::string& name, std::initializer_list<const char*> names) {
  for (const char* candidate : names)
    if (name == candidate) return true;
  return false;
}

[[noreturn]] void unsafe(const Value& object, const std::string& name) {
  throw EvalError(
      fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, object.type_name()));
}

// Python attribute lookup only (no item fallback); Undefined when there is none.
Value python_getattr(const Value& object, const std::string& name) {
  if (object.is_string()) {
    if (name == "format") return bound(object, name, string_format_method);
    if (is_one_of(name, {"strip",   "lstrip",     "rstrip",     "startswith", "endswith",
                         "split",   "rsplit",     "splitlines", "upper",      "lower",
                         "title",   "capitalize", "replace",    "find",       "rfind",
                         "index",   "rindex",     "count",      "join",       "isdigit",
                         "isalpha", "isalnum",    "isspace",    "islower",    "isupper"}))
      return bound(object, name, string_method);
  } else if (object.is_namespace() || object.is_loop()) {
    if (const Value* found = object.as_dict().find(Value(name))) return *found;
  } else if (object.is_dict()) {
    if (is_one_of(name, {"get", "items", "keys", "values", "copy"}))
      return bound(object, name, dict_method);
    if (is_one_of(name, {"pop", "popitem", "setdefault", "update", "clear"})) unsafe(object, name);
  } else if (object.is_sequence()) {
    if (is_one_of(name, {"count", "index"}) || (name == "copy" && !object.is_tuple()))
      return bound(object, name, list_method);
    if (!object.is_tuple() && is_one_of(name, {"append", "extend", "insert", "pop", "remove",
                                               "reverse", "sort", "clear"}))
      unsafe(object, name);
  }
  return missing_attribute(object, name);
}

}  // namespace

Value get_attribute(const Value& object, const std::string& name) {
  if (object.is_undefined()) throw EvalError(object.undefined_hint());
  Value found = python_getattr(object, name);
  if (!found.is_undefined() || !object.is_dict() || object.is_namespace() || object.is_loop())
    return found;
  if (const Value* item = object.as_dict().find(Value(name))) return *item;
  return found;
}

Value get_item(const Value& object, const Value& key) {
  if (object.is_undefined()) throw EvalError(object.undefined_hint());
  if (object.is_dict() && !object.is_namespace() && !object.is_loop()) {
    if (const Value* item = object.as_dict().find(key)) return *item;
  } else if ((object.is_sequence() || object.is_string()) && (key.is_int() || key.is_bool())) {
    const int64_t length = object.length();
    int64_t index = key.as_int();
    if (index < 0) index += length;
    if (index >= 0 && index < length) {
      if (object.is_sequence()) return object.as_list()[static_cast<size_t>(index)];
      return get_slice(object, Value(index), Value(index + 1), Value::none());
    }
  }
  if (key.is_string()) return python_getattr(object, key.as_string());
  return Value::undefined(
      fmt::format("{} has no element {}", object_description(object), key.repr()));
}

Value get_slice(const Value& object, const Value& start_value, const Value& stop_value,
                const Value& step_value) {
  if (object.is_undefined()) throw EvalError(object.undefined_hint());
  // Jinja compiles x[a:b] to Python slicing directly (no getitem fallback), so misuse raises.
  if (object.is_dict() && !object.is_namespace() && !object.is_loop())
    throw EvalError("unhashable type: 'slice'");
  if (!object.is_sequence() && !object.is_string())
    throw EvalError(fmt::format("'{}' object is not subscriptable", object.type_name()));
  const auto valid = [](const Value& v) { return v.is_none() || v.is_int() || v.is_bool(); };
  if (!valid(start_value) || !valid(stop_value) || !valid(step_value))
    throw EvalError("slice indices must be integers or None or have an __index__ method");
  const int64_t step = step_value.is_none() ? 1 : step_value.as_int();
  if (step == 0) throw EvalError("slice step cannot be zero");
  const int64_t length = object.length();
  const auto adjust = [&](const Value& v, int64_t fallback) {
    if (v.is_none()) return fallback;
    int64_t i = v.as_int();
    if (i < 0) {
      i = i < -length ? (step < 0 ? -1 : 0) : i + length;
    } else if (i >= length) {
      i = step < 0 ? length - 1 : length;
    }
    return i;
  };
  const int64_t start = adjust(start_value, step < 0 ? length - 1 : 0);
  const int64_t stop = adjust(stop_value, step < 0 ? -1 : length);
  std::vector<int64_t> picks;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    picks.push_back(i);
    if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
  }
  if (object.is_list()) {
    List out;
    for (int64_t i : picks) out.push_back(object.as_list()[static_cast<size_t>(i)]);
    return object.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }
  const std::string& text = object.as_string();
  const std::vector<size_t> offsets = code_point_offsets(text);
  std::string out;
  for (int64_t i : picks) {
    const auto k = static_cast<size_t>(i);
    const size_t end = k + 1 < offsets.size() ? offsets[k + 1] : text.size();
    out.append(text, offsets[k], end - offsets[k]);
  }
  return Value(std::move(out));
}

namespace {

Value make_mapping(const char* function, CallArgs& args, Value target) {
  if (args.positional.size() > 1)
    throw EvalError(fmt::format("{} expected at most 1 argument", function));
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      for (const auto& [key, value] : source.as_dict().items) target.as_dict().set(key, value);
    } else {
      for (const Value& pair : source.iterate()) {
        const List kv = pair.iterate();
        if (kv.size() != 2)
          throw EvalError("dictionary update sequence element has wrong length; 2 is required");
        target.as_dict().set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keyword) target.as_dict().set(Value(key), value);
  return target;
}

Value range_function(CallArgs& args) {
  ArgReader a("range", args, {"start", "stop", "step"});
  if (!args.keyword.empty()) throw EvalError("range() takes no keyword arguments");
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (!a.has(0)) throw EvalError("range expected at least 1 argument, got 0");
  if (a.has(1)) {
    start = require_int(a.get(0), "range");
    stop = require_int(a.get(1), "range");
    if (a.has(2)) step = require_int(a.get(2), "range");
  } else {
    stop = require_int(a.get(0), "range");
  }
  if (step == 0) throw EvalError("range() arg 3 must not be zero");
  const double count = step > 0
                           ? std::ceil((static_cast<double>(stop) - static_cast<double>(start)) /
                                       static_cast<double>(step))
                           : std::ceil((static_cast<double>(start) - static_cast<double>(stop)) /
                                       static_cast<double>(-step));
  if (count > 100000)
    throw EvalError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  List out;
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) out.emplace_back(start + i * step);
  return Value::list(std::move(out));
}

Value strftime_now(CallArgs& args) {
  ArgReader a("strftime_now", args, {"format"});
  const std::string& format = require_string(a.get(0), "strftime_now() format");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  if (format.empty()) return Value(std::string());
  for (size_t size = 256; size <= (size_t{1} << 20); size *= 4) {
    std::string buffer(size, '\0');
    const size_t written = std::strftime(buffer.data(), buffer.size(), format.c_str(), &local);
    if (written > 0) return Value(buffer.substr(0, written));
  }
  return Value(std::string());
}

}  // namespace

std::vector<std::pair<std::string, Value>> builtin_globals() {
  std::vector<std::pair<std::string, Value>> globals;
  globals.emplace_back("range", Value::function("range", range_function));
  globals.emplace_back("dict", Value::function("dict", [](CallArgs& args) {
                         return make_mapping("dict", args, Value::dict());
                       }));
  globals.emplace_back("namespace", Value::function("namespace", [](CallArgs& args) {
                         return make_mapping("namespace", args, Value::namespace_object());
                       }));
  globals.emplace_back("joiner", Value::function("joiner", [](CallArgs& args) {
                         ArgReader a("joiner", args, {"sep"});
                         const std::string separator = a.has(0) ? a.get(0).str() : ", ";
                         auto used = std::make_shared<bool>(false);
                         return Value::function("joiner", [separator, used](CallArgs&) {
                           if (!*used) {
                             *used = true;
                             return Value(std::string());
                           }
                           return Value(separator);
                         });
                       }));
  globals.emplace_back("raise_exception",
                       Value::function("raise_exception", [](CallArgs& args) -> Value {
                         ArgReader a("raise_exception", args, {"message"});
                         throw UserError("chat template: " + a.get(0).str());
                       }));
  globals.emplace_back("strftime_now", Value::function("strftime_now", strftime_now));
  return globals;
}

}  // namespace dpo::jinja
