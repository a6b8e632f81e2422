// ggml block formats. Every product and sum below is one float32 operation in the order gguf-py's
// numpy code does it (d * q - m, (d * scale) * q), so results match it bit for bit; contraction
// into fused multiply-adds is switched off for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
#include "io/gguf_quants.h"

#include <cmath>
#include <cstring>

#include "util/error.h"

namespace dpo {

namespace {

constexpr uint32_t kQK_K = 256;

const GgmlTypeInfo* lookup(uint32_t type) {
  // {name, block, bytes, dequantizable}; block layouts as ggml-common.h.
  static const GgmlTypeInfo f32{"F32", 1, 4, true}, f16{"F16", 1, 2, true},
      q4_0{"Q4_0", 32, 18, true}, q4_1{"Q4_1", 32, 20, true}, q5_0{"Q5_0", 32, 22, false},
      q5_1{"Q5_1", 32, 24, false}, q8_0{"Q8_0", 32, 34, true}, q8_1{"Q8_1", 32, 40, false},
      q2_k{"Q2_K", 256, 84, false}, q3_k{"Q3_K", 256, 110, false}, q4_k{"Q4_K", 256, 144, true},
      q5_k{"Q5_K", 256, 176, true}, q6_k{"Q6_K", 256, 210, true}, q8_k{"Q8_K", 256, 292, false},
      iq2_xxs{"IQ2_XXS", 256, 66, false}, iq2_xs{"IQ2_XS", 256, 74, false},
      iq3_xxs{"IQ3_XXS", 256, 98, false}, iq1_s{"IQ1_S", 256, 50, false},
      iq4_nl{"IQ4_NL", 32, 18, false}, iq3_s{"IQ3_S", 256, 110, false},
      iq2_s{"IQ2_S", 256, 82, false}, iq4_xs{"IQ4_XS", 256, 136, false}, i8{"I8", 1, 1, false},
      i16{"I16", 1, 2, false}, i32{"I32", 1, 4, false}, i64{"I64", 1, 8, false},
      f64{"F64", 1, 8, false}, iq1_m{"IQ1_M", 256, 56, false}, bf16{"BF16", 1, 2, true},
      tq1_0{"TQ1_0", 256, 54, false}, tq2_0{"TQ2_0", 256, 66, false}, mxfp4{"MXFP4", 32, 17, false};
  switch (type) {
    case 0:
      return &f32;
    case 1:
      return &f16;
    case 2:
      return &q4_0;
    case 3:
      return &q4_1;
    case 6:
      return &q5_0;
    case 7:
      return &q5_1;
    case 8:
      return &q8_0;
    case 9:
      return &q8_1;
    case 10:
      return &q2_k;
    case 11:
      return &q3_k;
    case 12:
      return &q4_k;
    case 13:
      return &q5_k;
    case 14:
      return &q6_k;
    case 15:
      return &q8_k;
    case 16:
      return &iq2_xxs;
    case 17:
      return &iq2_xs;
    case 18:
      return &iq3_xxs;
    case 19:
      return &iq1_s;
    case 20:
      return &iq4_nl;
    case 21:
      return &iq3_s;
    case 22:
      return &iq2_s;
    case 23:
      return &iq4_xs;
    case 24:
      return &i8;
    case 25:
      return &i16;
    case 26:
      return &i32;
    case 27:
      return &i64;
    case 28:
      return &f64;
    case 29:
      return &iq1_m;
    case 30:
      return &bf16;
    case 34:
      return &tq1_0;
    case 35:
      return &tq2_0;
    case 39:
      return &mxfp4;
    default:
      return nullptr;
  }
}

uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
float half_at(const uint8_t* p) {
  return fp16_to_fp32(static_cast<uint16_t>(p[0] | (p[1] << 8)));
}

// The 6-bit scale and min of sub-block j (0..7) from Q4_K/Q5_K's 12 packed bytes.
void scale_min_k4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  for (int l = 0; l < 32; ++l) y[l] = static_cast<float>(static_cast<int8_t>(b[2 + l])) * d;
}

void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  for (int l = 0; l < 16; ++l) {
    y[l] = d * static_cast<float>((b[2 + l] & 0x0F) - 8);
    y[l + 16] = d * static_cast<float>((b[2 + l] >> 4) - 8);
  }
}

void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  for (int l = 0; l < 16; ++l) {
    y[l] = d * static_cast<float>(b[4 + l] & 0x0F) + m;
    y[l + 16] = d * static_cast<float>(b[4 + l] >> 4) + m;
  }
}

// Q4_K: d, dmin (fp16), 12 scale bytes, 128 bytes of 4-bit values; 8 sub-blocks of 32.
void dequant_q4_k(const uint8_t* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, scales, &sc, &m);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(m);
    const uint8_t* q = qs + (j / 2) * 32;
    const int shift = (j % 2) * 4;
    for (int l = 0; l < 32; ++l)
      y[j * 32 + l] = dl * static_cast<float>((q[l] >> shift) & 0x0F) - ml;
  }
}

// Q5_K: as Q4_K plus 32 bytes of high bits (bit j of qh[l] for sub-block j) before the nibbles.
void dequant_q5_k(const uint8_t* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, scales, &sc, &m);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(m);
    const uint8_t* q = qs + (j / 2) * 32;
    const int shift = (j % 2) * 4;
    for (int l = 0; l < 32; ++l) {
      const int v = ((q[l] >> shift) & 0x0F) | (((qh[l] >> j) & 1) << 4);
      y[j * 32 + l] = dl * static_cast<float>(v) - ml;
    }
  }
}

// Q6_K: 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, fp16 d.
void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (uint32_t e = 0; e < kQK_K; ++e) {
    const uint32_t h = e / 128, r = e % 128;
    const int low = (ql[h * 64 + r % 64] >> (4 * (r / 64))) & 0x0F;
    const int high = (qh[h * 32 + r % 32] >> (2 * (r / 32))) & 0x03;
    const float ds = d * static_cast<float>(scales[e / 16]);
    y[e] = ds * static_cast<float>((low | (high << 4)) - 32);
  }
}

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t type) {
  return lookup(type);
}

std::string ggml_type_name(uint32_t type) {
  const GgmlTypeInfo* info = lookup(type);
  return info ? info->name : "type " + std::to_string(type);
}

std::string ggml_dequantizable_types() {
  return "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K";
}

uint16_t fp32_to_fp16(float x) {
  const uint32_t f = bits_of(x);
  const uint32_t sign = (f >> 16) & 0x8000;
  const uint32_t abs = f & 0x7FFFFFFF;
  if (abs > 0x7F800000) {  // NaN: the payload's top bits, never zero (numpy's conversion)
    uint32_t h = 0x7C00 | ((abs & 0x7FFFFF) >> 13);
    if (h == 0x7C00) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  if (abs >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds to inf (or is)
  if (abs < 0x38800000) {  // below the smallest normal half: a subnormal (or zero)
    // value = abs_float; in units of 2^-24, rounded to nearest even.
    const uint32_t mant = (abs & 0x7FFFFF) | 0x800000;
    const int exp = static_cast<int>(abs >> 23);  // biased float exponent
    const int shift = 126 - exp;                  // 2^-24 units: mant * 2^(exp-127-23+24)
    if (shift > 24) return static_cast<uint16_t>(sign);
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  // normal: rebias the exponent (127 -> 15) and round the 23-bit mantissa to 10 bits.
  uint32_t h = ((abs >> 13) - ((127 - 15) << 10));
  const uint32_t rem = abs & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  if (exp == 0x1F) return float_of(sign | 0x7F800000 | (mant << 13));
  if (exp == 0) {
    if (mant == 0) return float_of(sign);
    // subnormal: mant * 2^-24, exact in float.
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return float_of(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

uint16_t fp32_to_bf16(float x) {
  uint32_t n = bits_of(x);
  if ((n & 0x7FFFFFFF) > 0x7F800000) n = (n & 0xFFFF0000u) | (64u << 16);  // quiet NaN
  const uint64_t rounded = (static_cast<uint64_t>(n) + (0x7FFF + ((n >> 16) & 1))) >> 16;
  return static_cast<uint16_t>(rounded);
}

float bf16_to_fp32(uint16_t b) {
  return float_of(static_cast<uint32_t>(b) << 16);
}

void quantize_q8_0(const float* x, int64_t n, uint8_t* out) {
  DPO_CHECK(n % 32 == 0, "quantize_q8_0: {} is not a multiple of 32", n);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    uint8_t* o = out + b * 34;
    float amax = 0.0f;
    for (int l = 0; l < 32; ++l) amax = std::fmax(amax, std::fabs(v[l]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const uint16_t dh = fp32_to_fp16(d);
    o[0] = static_cast<uint8_t>(dh & 0xFF);
    o[1] = static_cast<uint8_t>(dh >> 8);
    for (int l = 0; l < 32; ++l)
      o[2 + l] = static_cast<uint8_t>(static_cast<int8_t>(std::round(v[l] * id)));
  }
}

void dequantize(uint32_t type, const uint8_t* data, int64_t n, float* out,
                const std::string& what) {
  const GgmlTypeInfo* info = lookup(type);
  if (!info || !info->dequantizable)
    throw_user_error("{}: tensor type {} cannot be read (supported: {})", what,
                     ggml_type_name(type), ggml_dequantizable_types());
  DPO_CHECK(n % info->block_size == 0, "dequantize: {} elements of {}", n, info->name);
  const int64_t blocks = n / info->block_size;
  switch (type) {
    case kGgmlF32:
      std::memcpy(out, data, static_cast<size_t>(n) * 4);
      return;
    case kGgmlF16:
      for (int64_t k = 0; k < n; ++k)
        out[k] = fp16_to_fp32(static_cast<uint16_t>(data[2 * k] | (data[2 * k + 1] << 8)));
      return;
    case kGgmlBF16:
      for (int64_t k = 0; k < n; ++k)
        out[k] = bf16_to_fp32(static_cast<uint16_t>(data[2 * k] | (data[2 * k + 1] << 8)));
      return;
    default:
      break;
  }
  void (*block_fn)(const uint8_t*, float*) = nullptr;
  switch (type) {
    case kGgmlQ8_0:
      block_fn = dequant_q8_0;
      break;
    case kGgmlQ4_0:
      block_fn = dequant_q4_0;
      break;
    case kGgmlQ4_1:
      block_fn = dequant_q4_1;
      break;
    case kGgmlQ4_K:
      block_fn = dequant_q4_k;
      break;
    case kGgmlQ5_K:
      block_fn = dequant_q5_k;
      break;
    case kGgmlQ6_K:
      block_fn = dequant_q6_k;
      break;
    default:
      throw_internal_error("dequantize: no block function for {}", info->name);
  }
  for (int64_t b = 0; b < blocks; ++b)
    block_fn(data + b * info->type_size, out + b * info->block_size);
}

}  // namespace dpo
