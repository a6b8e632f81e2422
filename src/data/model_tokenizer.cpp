// Tokenizers of model folders and GGUF files.
#include "data/model_tokenizer.h"

#include "io/gguf_load.h"
#include "io/gguf_tokenizer.h"

namespace dpo {

bool has_model_tokenizer(const std::filesystem::path& path) {
  return is_gguf_file(path) || std::filesystem::exists(path / "tokenizer.json");
}

std::pair<std::string, std::string> gguf_tokenizer_texts(const std::filesystem::path& gguf_file) {
  GgufTokenizerFiles files = gguf_tokenizer_files(read_gguf_header(gguf_file), gguf_file.string());
  return {files.tokenizer_json, files.tokenizer_config_json};
}

Tokenizer load_model_tokenizer(const std::filesystem::path& path) {
  if (!is_gguf_file(path)) return Tokenizer::from_dir(path);
  auto [tokenizer_json, config_json] = gguf_tokenizer_texts(path);
  return Tokenizer::from_json(tokenizer_json, config_json, path.string() + " (tokenizer.ggml.*)");
}

}  // namespace dpo
