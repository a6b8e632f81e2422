// The preference pairs of the llama fixture (tests/fixtures/hf/llama/expected.json), in order.
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "data/examples.h"
#include "util/fs.h"

namespace dpo::testing {

inline const fs::path kLlamaFixture = fs::path(DPO_FIXTURES) / "hf" / "llama";

inline std::vector<PreferenceExample> llama_fixture_pairs() {
  nlohmann::json expected = nlohmann::json::parse(read_file(kLlamaFixture / "expected.json"));
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

}  // namespace dpo::testing
