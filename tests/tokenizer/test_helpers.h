// Shared helpers of the tokenizer tests: fixture tokenizers loaded once.
#pragma once
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "tokenizer/tokenizer.h"

namespace dpo::test {

inline std::string fixture_path(const std::string& relative) {
  return std::string(DPO_FIXTURES) + "/" + relative;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_text(path));
}

// "mistral", "llama3", "qwen3" from tests/fixtures/tokenizers/, loaded once per process.
inline const Tokenizer& fixture_tokenizer(const std::string& name) {
  static std::map<std::string, Tokenizer> loaded;
  auto it = loaded.find(name);
  if (it == loaded.end())
    it = loaded.emplace(name, Tokenizer::from_dir(fixture_path("tokenizers/" + name))).first;
  return it->second;
}

}  // namespace dpo::test
