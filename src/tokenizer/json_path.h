// Reading tokenizer.json with error messages that name the file, the JSON path and the value:
//   tokenizer.json: pre_tokenizer.pretokenizers[1].type = "Foo" is not supported
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace dpo::tok {

using json = nlohmann::json;

// A JSON value and where it sits ("tokenizer.json", "pre_tokenizer.pretokenizers[1]").
struct JsonNode {
  const json& value;
  std::string path;
  const std::string& source;

  JsonNode at(const std::string& key) const;  // UserError when missing
  JsonNode at(size_t index) const;
  bool has(const std::string& key) const;  // present and not null
  std::string child_path(const std::string& key) const;

  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  const json& get_array(const std::string& key) const;
  const json& get_object(const std::string& key) const;
  // A string made of exactly one character (e.g. Metaspace "replacement").
  std::string get_char(const std::string& key, const std::string& fallback) const;
};

[[noreturn]] void throw_unsupported(const JsonNode& node, const std::string& key);
[[noreturn]] void throw_invalid(const JsonNode& node, const std::string& key,
                                const std::string& expected);

}  // namespace dpo::tok
