// Unicode normalization (NFC, NFD, NFKC, NFKD: decompose, canonical order, compose) and the
// lowercase mapping, from tables generated out of the Unicode Character Database
// (unicode_tables.inc, see gen_unicode_tables.py).
#include <algorithm>
#include <unordered_map>
#include <vector>

#include "tokenizer/unicode.h"

namespace dpo::tok {
namespace {

struct CombiningRange {
  uint32_t first, last;
  uint8_t combining_class;
};
struct Decomposition {
  uint32_t code_point;
  uint32_t offset;
  uint8_t length;
  uint8_t flags;  // 1 = compatibility mapping, 2 = canonical pair that recomposes
};

#include "tokenizer/unicode_tables.inc"

constexpr uint32_t kHangulBase = 0xAC00, kLeadBase = 0x1100, kVowelBase = 0x1161,
                   kTrailBase = 0x11A7;
constexpr uint32_t kVowelCount = 21, kTrailCount = 28, kSyllableCount = 11172;

struct Tables {
  std::unordered_map<uint32_t, const Decomposition*> decomposition;
  std::unordered_map<uint64_t, uint32_t> composition;  // (first << 32 | second) -> composite
  std::unordered_map<uint32_t, const Decomposition*> lower;
  Tables() {
    for (const auto& d : kDecompositions) {
      decomposition[d.code_point] = &d;
      if (d.flags & 2) {
        uint64_t key =
            (uint64_t{kDecompositionData[d.offset]} << 32) | kDecompositionData[d.offset + 1];
        composition[key] = d.code_point;
      }
    }
    for (const auto& d : kLowercase) lower[d.code_point] = &d;
  }
};

const Tables& tables() {
  static const Tables instance;
  return instance;
}

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300) return 0;
  auto it = std::upper_bound(std::begin(kCombiningRanges), std::end(kCombiningRanges), cp,
                             [](uint32_t v, const CombiningRange& r) { return v < r.first; });
  if (it == std::begin(kCombiningRanges)) return 0;
  --it;
  return cp <= it->last ? it->combining_class : 0;
}

void decompose(uint32_t cp, bool compatibility, std::vector<uint32_t>& out) {
  if (cp >= kHangulBase && cp < kHangulBase + kSyllableCount) {
    uint32_t index = cp - kHangulBase;
    out.push_back(kLeadBase + index / (kVowelCount * kTrailCount));
    out.push_back(kVowelBase + (index % (kVowelCount * kTrailCount)) / kTrailCount);
    if (index % kTrailCount) out.push_back(kTrailBase + index % kTrailCount);
    return;
  }
  const auto& map = tables().decomposition;
  auto it = map.find(cp);
  if (it == map.end() || ((it->second->flags & 1) && !compatibility)) {
    out.push_back(cp);
    return;
  }
  for (uint32_t k = 0; k < it->second->length; ++k)
    decompose(kDecompositionData[it->second->offset + k], compatibility, out);
}

// Stable sort of every run of non-starters by combining class.
void canonical_order(std::vector<uint32_t>& cps) {
  size_t i = 0;
  while (i < cps.size()) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < cps.size() && combining_class(cps[end]) != 0) ++end;
    std::stable_sort(cps.begin() + i, cps.begin() + end, [](uint32_t a, uint32_t b) {
      return combining_class(a) < combining_class(b);
    });
    i = end;
  }
}

uint32_t compose_pair(uint32_t first, uint32_t second) {
  if (first >= kLeadBase && first < kLeadBase + 19 && second >= kVowelBase &&
      second < kVowelBase + kVowelCount)
    return kHangulBase + ((first - kLeadBase) * kVowelCount + (second - kVowelBase)) * kTrailCount;
  if (first >= kHangulBase && first < kHangulBase + kSyllableCount &&
      (first - kHangulBase) % kTrailCount == 0 && second > kTrailBase &&
      second < kTrailBase + kTrailCount)
    return first + (second - kTrailBase);
  const auto& map = tables().composition;
  auto it = map.find((uint64_t{first} << 32) | second);
  return it == map.end() ? 0 : it->second;
}

// Canonical composition (UAX #15): a character joins the last starter unless blocked.
void compose(std::vector<uint32_t>& cps) {
  if (cps.empty()) return;
  size_t starter = 0, written = 1;
  int last_class = combining_class(cps[0]);
  if (last_class != 0) last_class = 256;
  for (size_t i = 1; i < cps.size(); ++i) {
    uint32_t cp = cps[i];
    int cp_class = combining_class(cp);
    uint32_t composite = last_class == 256 ? 0 : compose_pair(cps[starter], cp);
    if (composite && (last_class < cp_class || last_class == 0)) {
      cps[starter] = composite;
      continue;
    }
    if (cp_class == 0) starter = written;
    last_class = cp_class;
    cps[written++] = cp;
  }
  cps.resize(written);
}

bool is_unchanged_fast(std::string_view text, NormalForm form) {
  // Below U+0300 every character is a starter in NFC; for the other forms only ASCII is inert.
  unsigned char limit = form == NormalForm::nfc ? 0xCC : 0x80;
  for (unsigned char c : text)
    if (c >= limit) return false;
  return true;
}

}  // namespace

std::string normalize_unicode(std::string_view text, NormalForm form) {
  if (is_unchanged_fast(text, form)) return std::string(text);
  bool compatibility = form == NormalForm::nfkc || form == NormalForm::nfkd;
  std::vector<uint32_t> cps;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t length;
    decompose(decode_utf8(text, i, &length), compatibility, cps);
    i += length;
  }
  canonical_order(cps);
  if (form == NormalForm::nfc || form == NormalForm::nfkc) compose(cps);
  std::string out;
  out.reserve(text.size());
  for (uint32_t cp : cps) append_utf8(out, cp);
  return out;
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto& map = tables().lower;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
      ++i;
      continue;
    }
    size_t length;
    uint32_t cp = decode_utf8(text, i, &length);
    auto it = map.find(cp);
    if (it == map.end()) {
      out.append(text.substr(i, length));
    } else {
      for (uint32_t k = 0; k < it->second->length; ++k)
        append_utf8(out, kLowercaseData[it->second->offset + k]);
    }
    i += length;
  }
  return out;
}

}  // namespace dpo::tok
