#include "io/dtype.h"

#include <utility>

#include "util/error.h"

namespace dpo {

namespace {
const std::pair<const char*, at::ScalarType> kPairs[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool}};
}  // namespace

at::ScalarType scalar_type_from_safetensors(const std::string& name) {
  for (const auto& [n, t] : kPairs)
    if (name == n) return t;
  throw_user_error("unsupported safetensors dtype '{}'", name);
}

std::string safetensors_dtype_name(at::ScalarType type) {
  for (const auto& [n, t] : kPairs)
    if (type == t) return n;
  throw_user_error("tensor type {} cannot be written to safetensors", c10::toString(type));
}

at::ScalarType parse_dtype_option(const std::string& text, const std::string& where) {
  if (text == "f32" || text == "fp32" || text == "float32") return at::kFloat;
  if (text == "bf16" || text == "bfloat16") return at::kBFloat16;
  if (text == "f16" || text == "fp16" || text == "float16") return at::kHalf;
  throw_user_error("{}: unknown dtype '{}' (expected f32, bf16 or f16)", where, text);
}

std::string dtype_option_name(at::ScalarType type) {
  if (type == at::kFloat) return "f32";
  if (type == at::kBFloat16) return "bf16";
  if (type == at::kHalf) return "f16";
  return c10::toString(type);
}

}  // namespace dpo
