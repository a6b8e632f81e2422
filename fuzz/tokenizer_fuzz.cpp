// libFuzzer target for the tokenizer. The first input byte picks the mode:
//   0: the rest is tokenizer.json text, optionally followed by a NUL byte and
//      tokenizer_config.json text; it must load or raise dpo::UserError, and a loaded tokenizer
//      must encode and decode a fixed text.
//   1, 2: the rest is text encoded with a fixed real tokenizer (1: mistral, SentencePiece-style
//      BPE with byte fallback; 2: qwen3, byte-level BPE) and decoded again; the ids must be in the
//      vocabulary and decoding any ids must not fail.
// Anything other than a UserError from the loader is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace {

const dpo::Tokenizer& fixture_tokenizer(const char* name) {
  static const dpo::Tokenizer mistral =
      dpo::Tokenizer::from_dir(std::string(DPO_FIXTURES) + "/tokenizers/mistral");
  static const dpo::Tokenizer qwen3 =
      dpo::Tokenizer::from_dir(std::string(DPO_FIXTURES) + "/tokenizers/qwen3");
  return std::string(name) == "mistral" ? mistral : qwen3;
}

void encode_decode(const dpo::Tokenizer& tokenizer, const std::string& text) {
  for (bool special : {true, false}) {
    const dpo::TokenIds ids = tokenizer.encode(text, special);
    for (auto id : ids) {
      if (id < 0 || static_cast<int64_t>(id) >= static_cast<int64_t>(tokenizer.vocab_size()))
        std::abort();
    }
    (void)tokenizer.decode(ids, false);
    (void)tokenizer.decode(ids, true);
  }
}

void fuzz_loader(const std::string& input) {
  const size_t nul = input.find('\0');
  const std::string tokenizer_json = input.substr(0, nul);
  const std::string config_json = nul == std::string::npos ? "" : input.substr(nul + 1);
  try {
    const dpo::Tokenizer tokenizer = dpo::Tokenizer::from_json(tokenizer_json, config_json);
    encode_decode(tokenizer, "Hello world! <s> héllo 🙂 \n\n  x");
  } catch (const dpo::UserError&) {
  }
}

void fuzz_text(const dpo::Tokenizer& tokenizer, const std::string& text) {
  encode_decode(tokenizer, text);
  // Arbitrary ids from the input bytes, in range of the vocabulary.
  dpo::TokenIds ids;
  for (size_t i = 0; i + 1 < text.size() && ids.size() < 64; i += 2) {
    const uint32_t raw = static_cast<uint8_t>(text[i]) << 8 | static_cast<uint8_t>(text[i + 1]);
    ids.push_back(static_cast<int>(raw * 3 % tokenizer.vocab_size()));
  }
  (void)tokenizer.decode(ids, false);
  (void)tokenizer.decode(ids, true);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_loader(rest);
      break;
    case 1:
      fuzz_text(fixture_tokenizer("mistral"), rest);
      break;
    default:
      fuzz_text(fixture_tokenizer("qwen3"), rest);
      break;
  }
  return 0;
}
