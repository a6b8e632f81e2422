// What Jinja (as transformers configures it) offers templates: operators, filters, tests,
// attribute and item access with Python's str/dict/list methods, and global functions.
// Errors are EvalError (the evaluator adds the position).
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace dpo::jinja {

// ---- jinja_operators.cpp ----
// a op b for + - * / // % ** with Python semantics (ints stay ints, 1/2 = 0.5, -7//2 = -4).
Value binary_operation(const std::string& op, const Value& a, const Value& b);
Value negate(const Value& value);
Value unary_plus(const Value& value);
// printf-style formatting with %s %r %d %i %f %% ("%s" % x and the format filter).
std::string printf_format(const std::string& pattern, const List& values, bool all_must_be_used);
// `needle in haystack` (substring, element, key).
bool contains(const Value& haystack, const Value& needle);
// a op b for == != < <= > >=.
bool compare(const std::string& op, const Value& a, const Value& b);

// ---- jinja_filters.cpp ----
bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value apply_filter(const std::string& name, const Value& input, CallArgs& args);
bool apply_test(const std::string& name, const Value& input, CallArgs& args);

// ---- jinja_methods.cpp ----
// x.name: a method of str/dict/list bound to x, else x["name"]; Undefined (with a hint) when
// neither exists; EvalError when x is Undefined or the method mutates (sandbox).
Value get_attribute(const Value& object, const std::string& name);
// x[key]: item, then attribute (Undefined when neither); x[a:b:c] as Python slicing.
Value get_item(const Value& object, const Value& key);
Value get_slice(const Value& object, const Value& start, const Value& stop, const Value& step);
// The global functions: range, dict, namespace, joiner, cycler, raise_exception, strftime_now.
std::vector<std::pair<std::string, Value>> builtin_globals();

// str.splitlines() (without keepends) and str.split(sep, maxsplit) as Python does them.
std::vector<std::string> python_splitlines(const std::string& text);
std::vector<std::string> python_split(const std::string& text, const std::string* separator,
                                      int64_t maxsplit);
std::string python_upper(const std::string& text);
std::string python_lower(const std::string& text);
std::string python_title(const std::string& text);
std::string python_capitalize(const std::string& text);
std::string python_replace(const std::string& text, const std::string& old,
                           const std::string& replacement, int64_t count);

// Positional-or-keyword arguments of a builtin: get(1, "indent") is args[1] or indent=...
class ArgReader {
 public:
  ArgReader(const char* function, CallArgs& args, std::vector<const char*> names);
  bool has(size_t index) const;
  const Value& get(size_t index) const;  // Undefined when absent
  Value get_or(size_t index, Value fallback) const;
  const List& extra_positional() const { return extra_; }

 private:
  std::vector<Value> values_;
  std::vector<bool> present_;
  List extra_;
};

}  // namespace dpo::jinja
