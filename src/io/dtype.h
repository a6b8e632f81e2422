// Mapping between safetensors dtype names and libtorch scalar types, and --dtype option values.
#pragma once
#include <c10/core/ScalarType.h>

#include <string>

namespace dpo {

// "F32" -> kFloat, ...; UserError for names libtorch cannot hold.
at::ScalarType scalar_type_from_safetensors(const std::string& name);
// kFloat -> "F32", ...; UserError for types safetensors cannot hold.
std::string safetensors_dtype_name(at::ScalarType type);
// Command-line / config spelling: "f32"|"float32"|"fp32", "bf16"|"bfloat16",
// "f16"|"float16"|"fp16".
at::ScalarType parse_dtype_option(const std::string& text, const std::string& where);
// The short spelling back: kFloat -> "f32", kBFloat16 -> "bf16", kHalf -> "f16" (else torch's
// name).
std::string dtype_option_name(at::ScalarType type);

}  // namespace dpo
