// Values of the Jinja interpreter: Python semantics (None, bool, int, float, str, list, tuple,
// dict, callables) plus Jinja's Undefined. Lists and dicts are shared by reference as in Python.
#pragma once
#include <nlohmann/json.hpp>
#include "util/strings.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace dpo::jinja {

// A runtime error without a position; the evaluator adds the template line and column.
class EvalError : public std::runtime_error {
 public:
  explicit EvalError(const std::string& message) : std::runtime_error(message) {}
};

class Value;
struct CallArgs;
using List = std::vector<Value>;
using Function = std::function<Value(CallArgs&)>;

// A function value: builtins, bound methods, macros, caller().
struct Callable {
  std::string name;
  Function call;
};

// Insertion-ordered dict (Python 3.7+ semantics); small, so lookups are linear.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  void set(const Value& key, Value value);
};

class Value {
 public:
  enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Callable };

  Value() = default;  // Undefined
  static Value undefined(std::string hint);
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(double f);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(List items = {});
  static Value tuple(List items);
  // The lazy results of select, map, unique, reverse, items: iterable, always true, no len().
  static Value generator(List items);
  static Value dict();
  static Value namespace_object();  // a dict whose attributes may be assigned
  static Value loop_object();       // the `loop` of a for loop (a dict named LoopContext)
  static Value function(std::string name, Function fn);
  static Value from_json(const nlohmann::ordered_json& json);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const {
    return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool;
  }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }  // list or tuple
  bool is_tuple() const { return kind_ == Kind::List && flag_ == Flag::Tuple; }
  bool is_generator() const { return kind_ == Kind::List && flag_ == Flag::Generator; }
  bool is_sequence() const {
    return kind_ == Kind::List && flag_ != Flag::Generator;
  }  // list or tuple
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Dict && flag_ == Flag::Namespace; }
  bool is_loop() const { return kind_ == Kind::Dict && flag_ == Flag::Loop; }
  bool is_callable() const { return kind_ == Kind::Callable; }

  bool as_bool() const { return bool_; }
  int64_t as_int() const { return kind_ == Kind::Bool ? (bool_ ? 1 : 0) : int_; }
  double as_double() const { return kind_ == Kind::Float ? float_ : static_cast<double>(as_int()); }
  const std::string& as_string() const { return string_; }
  List& as_list() const { return *list_; }
  Dict& as_dict() const { return *dict_; }
  const Callable& as_callable() const { return *callable_; }
  // Why an Undefined is undefined ("'x' is undefined"); used when it is misused.
  const std::string& undefined_hint() const { return string_; }

  // Python's bool(), str(), repr(); type name as Python says it ("dict", "str", ...).
  bool truthy() const;
  std::string str() const;
  std::string repr() const;
  std::string type_name() const;

  // The elements a for loop visits (dict keys, string characters); UserError when not iterable.
  List iterate() const;
  // len(); UserError when the value has none.
  int64_t length() const;

 private:
  enum class Flag : uint8_t { None, Tuple, Generator, Namespace, Loop };
  Kind kind_ = Kind::Undefined;
  Flag flag_ = Flag::None;
  bool bool_ = false;
  int64_t int_ = 0;
  double float_ = 0.0;
  std::string string_;  // the string, or the hint of an Undefined
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<const Callable> callable_;
};

// Arguments of a call as written: positional then keyword.
struct CallArgs {
  List positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// Python ==, with 1 == 1.0 == True and Undefined == Undefined.
bool equals(const Value& a, const Value& b);
// Python <; UserError for types Python cannot order.
bool less_than(const Value& a, const Value& b);

// repr() of a float exactly as Python prints it (shortest round trip: 0.1, 1e+16, 2.0).
std::string python_float_repr(double value);
// repr() of a str as Python prints it ('it', "it's").
std::string python_string_repr(const std::string& text);

// json.dumps(value, ensure_ascii, indent, separators, sort_keys) as Python writes it.
struct JsonOptions {
  bool ensure_ascii = false;
  bool indented = false;              // indent=None writes one line
  std::string indent_string;          // one level of indentation when indented
  std::string item_separator = ", ";  // Python's default is "," when indented
  std::string key_separator = ": ";
  bool sort_keys = false;
};
std::string to_python_json(const Value& value, const JsonOptions& options);

// Decodes the code point at text[i] (i < size); `length` gets its byte count, 1 for an invalid
// byte.
uint32_t decode_utf8(const std::string& text, size_t i, size_t& length);
using ::dpo::append_utf8;  // util/strings.h
// Python's str.isspace() for one code point.
bool is_python_space(uint32_t code_point);
// str.strip/lstrip/rstrip(chars); chars == nullptr strips whitespace.
std::string python_strip(const std::string& text, const std::string* chars, bool left, bool right);

// The code points of a UTF-8 string as byte offsets (invalid bytes count as one each).
std::vector<size_t> code_point_offsets(const std::string& text);
size_t code_point_count(const std::string& text);

}  // namespace dpo::jinja
