// libFuzzer target for the safetensors header parser. Input: a whole file (u64 header length,
// JSON header, data buffer). Every input must parse or raise dpo::UserError; a parsed header must
// describe entries that lie inside the file, do not overlap and match their dtype and shape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/safetensors_header.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const dpo::SafetensorsHeader header = dpo::parse_safetensors_header(data, size, "fuzz");
    uint64_t previous_end = 0;
    for (const dpo::SafetensorsEntry& entry : header.entries) {
      uint64_t elements = 1;
      for (int64_t dim : entry.shape) {
        if (dim < 0) std::abort();
        elements *= static_cast<uint64_t>(dim);
      }
      const uint64_t bytes = elements * dpo::safetensors_dtype_size(entry.dtype);
      if (entry.end < entry.begin || entry.end - entry.begin != bytes) std::abort();
      if (entry.begin < previous_end) std::abort();
      if (header.data_start + entry.end > size) std::abort();
      previous_end = entry.end;
    }
    // The writer must accept what the reader accepted.
    std::vector<dpo::SafetensorsEntry> entries = header.entries;
    const std::string text = dpo::make_safetensors_header(entries, header.metadata);
    if (text.size() % 8 != 0) std::abort();
  } catch (const dpo::UserError&) {
  }
  return 0;
}
