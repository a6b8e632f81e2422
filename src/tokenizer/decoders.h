// Decoders of tokenizer.json: Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace, Sequence.
// Each rewrites the list of token strings (HF Decoder::decode_chain); the result is joined.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_path.h"

namespace dpo::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// nullptr for a JSON null; UserError naming the path for anything unsupported.
std::unique_ptr<Decoder> make_decoder(const JsonNode& node);

}  // namespace dpo::tok
