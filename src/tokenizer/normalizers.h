// Normalizers of tokenizer.json: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase,
// Strip, ByteLevel. Each rewrites a text segment in place.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/json_path.h"

namespace dpo::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

// nullptr for a JSON null; UserError naming the path for anything unsupported.
std::unique_ptr<Normalizer> make_normalizer(const JsonNode& node);

}  // namespace dpo::tok
