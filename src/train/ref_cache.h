// precompute_ref_log_probs: reference log-probs of every pair computed once, before training,
// and cached on disk under a key hashed from the base weights, the tokenized dataset and the
// settings that change the numbers; a later run with the same key loads them and runs no
// reference pass. Shape legend: E examples.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/examples.h"
#include "model/llama.h"
#include "train/reference.h"

namespace dpo {

struct RefCacheKeyInput {
  const LlamaModel* model = nullptr;  // base weights (adapters are not parameters of it)
  const std::vector<PreferenceExample>* train = nullptr;
  const std::vector<PreferenceExample>* eval = nullptr;
  std::string settings;  // ld_alpha, dtype, ... anything else that changes the numbers
};
std::string ref_cache_key(const RefCacheKeyInput& input);

// $XDG_CACHE_HOME/dpo.cpp/ref_logps, or ~/.cache/dpo.cpp/ref_logps, when `configured` is "".
std::filesystem::path ref_cache_dir(const std::string& configured);

// CACHE_DIR/<key>.safetensors, or nullopt when absent (or unreadable: then it is recomputed).
std::optional<RefTables> load_ref_cache(const std::filesystem::path& dir, const std::string& key,
                                        int64_t train_size, int64_t eval_size);
void save_ref_cache(const std::filesystem::path& dir, const std::string& key,
                    const RefTables& logps);

}  // namespace dpo
