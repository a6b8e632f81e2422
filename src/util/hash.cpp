#include "util/hash.h"

#include <fmt/format.h>

#include <cstring>

namespace dpo {

void Hasher::add_bytes(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  constexpr uint64_t kPrime = 0x100000001b3ull;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    state_ = (state_ ^ word) * kPrime;
    state_ ^= state_ >> 29;
  }
  for (; i < size; ++i) state_ = (state_ ^ bytes[i]) * kPrime;
  state_ = (state_ ^ size) * kPrime;
}

void Hasher::add_string(const std::string& text) {
  add_bytes(text.data(), text.size());
}

void Hasher::add_int(int64_t value) {
  add_bytes(&value, sizeof(value));
}

std::string Hasher::hex() const {
  return fmt::format("{:016x}", state_);
}

}  // namespace dpo
