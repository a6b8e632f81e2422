// A GGUF model's tokenizer (tokenizer.ggml.*, tokenizer.chat_template) as Hugging Face
// tokenizer.json + tokenizer_config.json texts, built as transformers builds a tokenizer from a
// GGUF file (AutoTokenizer.from_pretrained(..., gguf_file=...)): "llama" vocabularies as a
// byte-fallback BPE with Metaspace and merges from the file or derived from the scores, "gpt2"
// ones as byte-level BPE with the file's merges. Plain C++ (no libtorch).
#pragma once
#include <string>

#include "io/gguf.h"

namespace dpo {

struct GgufTokenizerFiles {
  std::string tokenizer_json;
  std::string tokenizer_config_json;  // special tokens, add_bos/add_eos, chat_template
};

// UserError naming `source` and the key for a missing or malformed vocabulary, or a tokenizer
// model other than llama and gpt2.
GgufTokenizerFiles gguf_tokenizer_files(const GgufHeader& h, const std::string& source);

}  // namespace dpo
