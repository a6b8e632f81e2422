// JsonNode accessors: every failure names the source file, JSON path and offending value.
#include "tokenizer/json_path.h"

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace dpo::tok {

std::string JsonNode::child_path(const std::string& key) const {
  return path.empty() ? key : path + "." + key;
}

bool JsonNode::has(const std::string& key) const {
  return value.is_object() && value.contains(key) && !value[key].is_null();
}

JsonNode JsonNode::at(const std::string& key) const {
  if (!value.is_object())
    throw_user_error("{}: {} must be an object, got {}", source,
                     path.empty() ? "(top level)" : path, value.dump().substr(0, 80));
  auto it = value.find(key);
  if (it == value.end()) throw_user_error("{}: {} is missing", source, child_path(key));
  return JsonNode{*it, child_path(key), source};
}

JsonNode JsonNode::at(size_t index) const {
  return JsonNode{value.at(index), path + "[" + std::to_string(index) + "]", source};
}

void throw_unsupported(const JsonNode& node, const std::string& key) {
  throw_user_error(
      "{}: {} = {} is not supported", node.source, node.child_path(key),
      node.value.is_object() && node.value.contains(key) ? node.value[key].dump() : "null");
}

void throw_invalid(const JsonNode& node, const std::string& key, const std::string& expected) {
  std::string got =
      node.value.is_object() && node.value.contains(key) ? node.value[key].dump() : "missing";
  if (got.size() > 80) got = got.substr(0, 77) + "...";
  throw_user_error("{}: {} = {}: expected {}", node.source, node.child_path(key), got, expected);
}

std::string JsonNode::get_string(const std::string& key) const {
  JsonNode child = at(key);
  if (!child.value.is_string()) throw_invalid(*this, key, "a string");
  return child.value.get<std::string>();
}

std::string JsonNode::get_string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  return get_string(key);
}

bool JsonNode::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  if (!value[key].is_boolean()) throw_invalid(*this, key, "true or false");
  return value[key].get<bool>();
}

int64_t JsonNode::get_int(const std::string& key, int64_t fallback) const {
  if (!has(key)) return fallback;
  if (!value[key].is_number_integer()) throw_invalid(*this, key, "an integer");
  return value[key].get<int64_t>();
}

const json& JsonNode::get_array(const std::string& key) const {
  JsonNode child = at(key);
  if (!child.value.is_array()) throw_invalid(*this, key, "an array");
  return child.value;
}

const json& JsonNode::get_object(const std::string& key) const {
  JsonNode child = at(key);
  if (!child.value.is_object()) throw_invalid(*this, key, "an object");
  return child.value;
}

std::string JsonNode::get_char(const std::string& key, const std::string& fallback) const {
  std::string text = get_string(key, fallback);
  size_t length = 0;
  if (text.empty() || !is_valid_utf8_fast(text) ||
      (decode_utf8(text, 0, &length), length != text.size()))
    throw_invalid(*this, key, "a single character");
  return text;
}

}  // namespace dpo::tok
