// Keys and values of past positions, per layer, for incremental decoding of one sequence.
// Shape legend: Hkv kv heads, S cached positions, D head dim.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace dpo {

class KVCache {
 public:
  // Room for `max_tokens` positions in each of `layers` layers.
  KVCache(int64_t layers, int64_t kv_heads, int64_t head_dim, int64_t max_tokens,
          at::ScalarType dtype, at::Device device);

  int64_t length() const { return length_; }  // positions stored (committed)
  int64_t capacity() const { return capacity_; }

  // Stores the new keys/values (1, Hkv, t, D) of `layer` after the committed positions and returns
  // all keys/values so far (1, Hkv, length + t, D). UserError when the cache is full.
  std::pair<at::Tensor, at::Tensor> append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  // Commits the t positions appended to every layer in this step.
  void advance(int64_t t);
  void clear() { length_ = 0; }

 private:
  std::vector<at::Tensor> keys_, values_;  // each (1, Hkv, capacity, D)
  int64_t length_ = 0;
  int64_t capacity_ = 0;
};

}  // namespace dpo
