// The tokenizer of a Hugging Face model folder as GGUF metadata (tokenizer.ggml.*,
// tokenizer.chat_template), as convert_hf_to_gguf.py writes it: SentencePiece-style BPE
// tokenizer.json (byte_fallback) as "llama" (gguf-py's LlamaHfVocab), byte-level BPE as "gpt2"
// with merges; special token ids and add_bos/add_eos as gguf-py's SpecialVocab reads them.
// Plain C++ (no libtorch).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "io/gguf.h"

namespace dpo {

// Adds the tokenizer keys of `model_dir` (tokenizer.json, tokenizer_config.json, config.json,
// chat_template.jinja / chat_template.json). `vocab_size` is config.json's. `arch` is the GGUF
// architecture (tokenizer.ggml.add_space_prefix is written for "llama" only, as the converter).
// UserError naming the file for a tokenizer it cannot express.
void add_gguf_tokenizer(GgufWriter& w, const std::filesystem::path& model_dir, int64_t vocab_size,
                        const std::string& arch);

// tokenizer.ggml.pre for a byte-level BPE tokenizer.json's pre_tokenizer (its split regex):
// "llama-bpe", "qwen2", "gpt-2" or "default".
std::string gguf_bpe_pre_name(const std::string& tokenizer_json_text);

}  // namespace dpo
