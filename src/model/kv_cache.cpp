#include "model/kv_cache.h"

#include "util/error.h"

namespace dpo {

KVCache::KVCache(int64_t layers, int64_t kv_heads, int64_t head_dim, int64_t max_tokens,
                 at::ScalarType dtype, at::Device device)
    : capacity_(max_tokens) {
  auto options = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t i = 0; i < layers; ++i) {
    keys_.push_back(at::zeros({1, kv_heads, max_tokens, head_dim}, options));
    values_.push_back(at::zeros({1, kv_heads, max_tokens, head_dim}, options));
  }
}

std::pair<at::Tensor, at::Tensor> KVCache::append(int64_t layer, const at::Tensor& k,
                                                  const at::Tensor& v) {
  int64_t t = k.size(2);
  if (length_ + t > capacity_)
    throw_user_error("KV cache full: {} positions stored, {} more requested, room for {}", length_,
                     t, capacity_);
  keys_[layer].narrow(2, length_, t).copy_(k);
  values_[layer].narrow(2, length_, t).copy_(v);
  return {keys_[layer].narrow(2, 0, length_ + t), values_[layer].narrow(2, 0, length_ + t)};
}

void KVCache::advance(int64_t t) {
  length_ += t;
}

}  // namespace dpo
