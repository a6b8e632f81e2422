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

namespace dpo {

// 64-bit hash of bytes, chained (FNV-style multiply-xor over 8-byte words).
class Hasher {
 public:
  void add_bytes(const void* data, size_t size);
  void add_string(const std::string& text);
  void add_int(int64_t value);
  void add_tensor(const at::Tensor& tensor);  // dtype, shape and contents
  uint64_t digest() const { return state_; }
  std::string hex() const;

 private:
  uint64_t state_ = 0xcbf29ce484222325ull;
};

// Reference log-probs of a list of examples, in list order.
struct RefLogpsTable {
  at::Tensor chosen;    // (E) float32, CPU
  at::Tensor rejected;  // (E)
};

struct RefCacheKeyInput {
  const LlamaModel* model = nullptr;  // base weights (adapters are not parameters of it)
  const std::vector<PreferenceExample>* train = nullptr;
  const std::vector<PreferenceExample>* eval = nullptr;
  std::string settings;  // ld_alpha, dtype, ... anything else that changes the numbers
};
std::string ref_cache_key(const RefCacheKeyInput& input);

// $XDG_CACHE_HOME/dpo.cpp/ref_logps, or ~/.cache/dpo.cpp/ref_logps, when `configured` is "".
std::filesystem::path ref_cache_dir(const std::string& configured);

struct CachedRefLogps {
  RefLogpsTable train, eval;
};
// CACHE_DIR/<key>.safetensors, or nullopt when absent (or unreadable: then it is recomputed).
std::optional<CachedRefLogps> load_ref_cache(const std::filesystem::path& dir,
                                             const std::string& key, int64_t train_size,
                                             int64_t eval_size);
void save_ref_cache(const std::filesystem::path& dir, const std::string& key,
                    const CachedRefLogps& logps);

// The rows of `table` for `positions` (indices into the example list): ReferenceLogps-shaped.
RefLogpsTable gather_ref_logps(const RefLogpsTable& table, const std::vector<int64_t>& positions);

}  // namespace dpo
