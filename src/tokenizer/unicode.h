// UTF-8 helpers, Unicode properties and normalization forms used by the tokenizer, and the
// GPT-2 byte <-> unicode map of byte-level BPE. Input strings are valid UTF-8 unless a function
// says otherwise (Tokenizer::encode makes them valid first with to_valid_utf8).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include "util/strings.h"

namespace dpo::tok {

// Byte length of the UTF-8 sequence that starts with `lead` (1 for stray bytes).
inline size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Code point of the (valid) UTF-8 sequence at text[i]; *length receives its byte length.
uint32_t decode_utf8(std::string_view text, size_t i, size_t* length);
using ::dpo::append_utf8;  // util/strings.h

// `text` unchanged when it is valid UTF-8; otherwise each maximal invalid subsequence becomes
// U+FFFD, exactly like Python's bytes.decode("utf-8", errors="replace") and Rust's
// String::from_utf8_lossy.
std::string to_valid_utf8(std::string_view text);
bool is_valid_utf8_fast(std::string_view text);

// Rust's char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(uint32_t code_point);
// Rust's char::is_alphanumeric / is_numeric approximations via PCRE2 are not needed here.

// GPT-2 byte-level map: every byte is one printable code point.
uint32_t byte_to_code_point(uint8_t byte);
// The byte of a byte-level code point, or -1 when `code_point` is not one.
int code_point_to_byte(uint32_t code_point);
// Maps every byte of `bytes` to its byte-level character (UTF-8).
std::string bytes_to_byte_level(std::string_view bytes);
// Inverse of bytes_to_byte_level; false (and `out` unspecified) if some char is not byte-level.
bool byte_level_to_bytes(std::string_view text, std::string* out);

// Unicode normalization forms (canonical / compatibility, composed / decomposed).
enum class NormalForm { nfc, nfd, nfkc, nfkd };
std::string normalize_unicode(std::string_view text, NormalForm form);
// Per-character full lowercase mapping (Rust's char::to_lowercase, no final-sigma context).
std::string lowercase(std::string_view text);

}  // namespace dpo::tok
