// safetensors header parsing and validation, plain C++ (no libtorch).
// File layout: u64 little-endian header length N, N bytes of JSON, then the data buffer.
// Every entry is checked against the file length and against the others, so a truncated or
// corrupt file is a UserError naming the file and the tensor, never an out-of-bounds read.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dpo {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer, [begin, end)
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // sorted by data offset (file order)
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + header length: where the data buffer begins in the file
};

// Largest JSON header accepted (the reference implementation's limit).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Bytes per element of a safetensors dtype name; 0 for an unknown one.
size_t safetensors_dtype_size(const std::string& dtype);
// The supported dtype names, for error messages ("F32, F16, ...").
std::string safetensors_supported_dtypes();

// Parses and validates the header of a whole file held in memory (`file_size` bytes at `data`).
// `source` names the file in messages.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t file_size,
                                           const std::string& source);

// The JSON header text (space-padded to a multiple of 8 bytes, as the reference writer does)
// for entries laid out back to back in the given order. Fills each entry's begin/end.
std::string make_safetensors_header(std::vector<SafetensorsEntry>& entries,
                                    const std::map<std::string, std::string>& metadata);

}  // namespace dpo
