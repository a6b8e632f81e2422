// libFuzzer target for the GGUF reader. Input: a whole .gguf file. Every input must parse or raise
// dpo::UserError; a parsed header must describe tensors inside the file that do not overlap, and
// every tensor of a type dpo.cpp reads must dequantize; the model config reader runs on the
// metadata too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "io/gguf.h"
#include "io/gguf_model.h"
#include "io/gguf_quants.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const dpo::GgufHeader h = dpo::parse_gguf(data, size, "fuzz");
    if (h.data_start % h.alignment != 0) std::abort();
    std::vector<std::pair<uint64_t, uint64_t>> spans;
    for (const dpo::GgufTensorInfo& t : h.tensors) {
      if (h.data_start + t.offset + t.nbytes > size) std::abort();
      spans.emplace_back(t.offset, t.offset + t.nbytes);
      const dpo::GgmlTypeInfo* info = dpo::ggml_type_info(t.type);
      if (!info) std::abort();
      if (info->dequantizable && t.elements() <= (1u << 16)) {
        std::vector<float> out(t.elements());
        dpo::dequantize(t.type, data + h.data_start + t.offset, static_cast<int64_t>(t.elements()),
                        out.data(), t.name);
      }
    }
    std::sort(spans.begin(), spans.end());
    for (size_t k = 1; k < spans.size(); ++k)
      if (spans[k - 1].second > spans[k].first) std::abort();
    try {
      dpo::model_config_from_gguf(h, "fuzz");
    } catch (const dpo::UserError&) {
    }
  } catch (const dpo::UserError&) {
  }
  return 0;
}
