// UTF-8 decoding/encoding, lossy repair, White_Space, and the GPT-2 byte-level map.
#include "tokenizer/unicode.h"

#include <array>

namespace dpo::tok {

uint32_t decode_utf8(std::string_view text, size_t i, size_t* length) {
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(text[k])); };
  uint32_t lead = byte(i);
  if (lead < 0x80) {
    *length = 1;
    return lead;
  }
  if (lead < 0xE0) {
    *length = 2;
    return ((lead & 0x1F) << 6) | (byte(i + 1) & 0x3F);
  }
  if (lead < 0xF0) {
    *length = 3;
    return ((lead & 0x0F) << 12) | ((byte(i + 1) & 0x3F) << 6) | (byte(i + 2) & 0x3F);
  }
  *length = 4;
  return ((lead & 0x07) << 18) | ((byte(i + 1) & 0x3F) << 12) | ((byte(i + 2) & 0x3F) << 6) |
         (byte(i + 3) & 0x3F);
}

namespace {

// Length of the well-formed UTF-8 sequence at text[i] (Unicode Table 3-7), or 0 when the bytes
// there are ill-formed; *valid_prefix receives the length of the maximal valid prefix (>= 1).
size_t well_formed_length(std::string_view text, size_t i, size_t* valid_prefix) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = at(i);
  *valid_prefix = 1;
  if (lead < 0x80) return 1;
  size_t need;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k < need; ++k) {
    if (i + k >= text.size()) return 0;
    unsigned char c = at(i + k);
    unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
    if (c < lo || c > hi) return 0;
    *valid_prefix = k + 1;
  }
  return need;
}

}  // namespace

bool is_valid_utf8_fast(std::string_view text) {
  size_t i = 0, n = text.size();
  while (i < n) {
    // Skip ASCII eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t chunk;
      __builtin_memcpy(&chunk, text.data() + i, 8);
      if (chunk & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    size_t prefix;
    size_t length = well_formed_length(text, i, &prefix);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string to_valid_utf8(std::string_view text) {
  if (is_valid_utf8_fast(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  size_t i = 0;
  while (i < text.size()) {
    size_t prefix;
    size_t length = well_formed_length(text, i, &prefix);
    if (length) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the maximal ill-formed subpart
      i += prefix;
    }
  }
  return out;
}

bool is_whitespace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

struct ByteLevelMap {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<int16_t, 324> cp_to_byte{};  // byte-level code points are all < 324
  ByteLevelMap() {
    cp_to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      byte_to_cp[b] = cp;
      cp_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelMap& byte_level_map() {
  static const ByteLevelMap map;
  return map;
}

}  // namespace

uint32_t byte_to_code_point(uint8_t byte) {
  return byte_level_map().byte_to_cp[byte];
}

int code_point_to_byte(uint32_t cp) {
  return cp < 324 ? byte_level_map().cp_to_byte[cp] : -1;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) append_utf8(out, byte_to_code_point(b));
  return out;
}

bool byte_level_to_bytes(std::string_view text, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size();) {
    size_t length;
    int byte = code_point_to_byte(decode_utf8(text, i, &length));
    if (byte < 0) return false;
    *out += static_cast<char>(byte);
    i += length;
  }
  return true;
}

}  // namespace dpo::tok
