// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78) and the "masked" form that
// TensorFlow's record files (TensorBoard event files) store next to every length and payload.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dpo::report {

// CRC32C of `data`, continuing from `crc` (0 for a fresh checksum).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);
inline uint32_t crc32c(std::string_view data) {
  return crc32c_extend(0, data.data(), data.size());
}

// TensorFlow's mask: rotate right by 15 bits and add a constant, so that a CRC of data that
// itself holds CRCs stays well distributed.
uint32_t mask_crc(uint32_t crc);
uint32_t unmask_crc(uint32_t masked);

}  // namespace dpo::report
