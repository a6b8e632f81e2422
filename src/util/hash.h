// A 64-bit hash of bytes, chained (FNV-style multiply-xor over 8-byte words): cache keys.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace dpo {

class Hasher {
 public:
  void add_bytes(const void* data, size_t size);
  void add_string(const std::string& text);
  void add_int(int64_t value);
  uint64_t digest() const { return state_; }
  std::string hex() const;  // 16 hex digits

 private:
  uint64_t state_ = 0xcbf29ce484222325ull;
};

}  // namespace dpo
