// The preference pairs of a fixture model (tests/fixtures/hf/KIND/expected.json), in order.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/examples.h"
#include "util/fs.h"

namespace dpo::testing {

inline const fs::path kLlamaFixture = fs::path(DPO_FIXTURES) / "hf" / "llama";

inline fs::path hf_fixture(const std::string& kind) {
  return fs::path(DPO_FIXTURES) / "hf" / kind;
}

inline std::vector<PreferenceExample> fixture_pairs(const std::string& kind) {
  nlohmann::json expected = nlohmann::json::parse(read_file(hf_fixture(kind) / "expected.json"));
  std::vector<PreferenceExample> pairs;
  for (const auto& pair : expected["pairs"]) {
    PreferenceExample example;
    example.prompt_ids = pair["prompt_ids"].get<TokenIds>();
    example.chosen_ids = pair["chosen_ids"].get<TokenIds>();
    example.rejected_ids = pair["rejected_ids"].get<TokenIds>();
    example.index = static_cast<int64_t>(pairs.size());
    pairs.push_back(example);
  }
  return pairs;
}

inline std::vector<PreferenceExample> llama_fixture_pairs() {
  return fixture_pairs("llama");
}

}  // namespace dpo::testing
