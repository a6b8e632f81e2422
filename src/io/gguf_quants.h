// ggml tensor types: block sizes, float16/bfloat16 conversion, q8_0 quantization bit-exact with
// ggml's reference quantize_row_q8_0, and dequantization of F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q4_K/
// Q5_K/Q6_K equal to gguf-py's gguf.quants.dequantize bit for bit. Plain C++ (no libtorch).
#pragma once
#include <cstdint>
#include <string>

namespace dpo {

enum GgmlType : uint32_t {
  kGgmlF32 = 0,
  kGgmlF16 = 1,
  kGgmlQ4_0 = 2,
  kGgmlQ4_1 = 3,
  kGgmlQ5_0 = 6,
  kGgmlQ5_1 = 7,
  kGgmlQ8_0 = 8,
  kGgmlQ8_1 = 9,
  kGgmlQ2_K = 10,
  kGgmlQ3_K = 11,
  kGgmlQ4_K = 12,
  kGgmlQ5_K = 13,
  kGgmlQ6_K = 14,
  kGgmlQ8_K = 15,
  kGgmlBF16 = 30,
};

struct GgmlTypeInfo {
  const char* name;     // "Q8_0"
  uint32_t block_size;  // elements per block
  uint32_t type_size;   // bytes per block
  bool dequantizable;   // dequantize() supports it
};

// nullptr for a type number ggml does not define.
const GgmlTypeInfo* ggml_type_info(uint32_t type);
std::string ggml_type_name(uint32_t type);  // "Q8_0", or "type N"
// The types dequantize() reads, for error messages.
std::string ggml_dequantizable_types();

// IEEE half <-> float, round to nearest even (numpy's astype(float16), ggml's F16C path).
uint16_t fp32_to_fp16(float x);
float fp16_to_fp32(uint16_t h);
// bfloat16 as gguf-py (ggml_compute_fp32_to_bf16): NaN made quiet, round to nearest even.
uint16_t fp32_to_bf16(float x);
float bf16_to_fp32(uint16_t b);

// n (a multiple of 32) floats -> n/32 blocks of 34 bytes: fp16 scale amax/127, then 32 int8
// round(x / scale), rounding half away from zero.
void quantize_q8_0(const float* x, int64_t n, uint8_t* out);

// n elements (a multiple of the type's block size) of `type` at `data` -> float32 at `out`.
// UserError naming `what` for a type it does not read.
void dequantize(uint32_t type, const uint8_t* data, int64_t n, float* out, const std::string& what);

}  // namespace dpo
