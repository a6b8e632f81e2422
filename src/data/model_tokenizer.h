// The tokenizer of a model given by path: a Hugging Face folder's tokenizer.json (+
// tokenizer_config.json), or the vocabulary inside a GGUF model file (io/gguf_tokenizer.h, built
// as transformers builds it from the same file).
#pragma once
#include <filesystem>
#include <string>

#include "tokenizer/tokenizer.h"

namespace dpo {

// Whether `path` has a tokenizer: a folder with tokenizer.json, or a GGUF model file.
bool has_model_tokenizer(const std::filesystem::path& path);
// UserError naming the path when it has none or it is malformed.
Tokenizer load_model_tokenizer(const std::filesystem::path& path);
// The tokenizer.json and tokenizer_config.json texts of a GGUF model file.
std::pair<std::string, std::string> gguf_tokenizer_texts(const std::filesystem::path& gguf_file);

}  // namespace dpo
