// A GGUF model file as a model folder would be read: its ModelConfig (io/gguf_model.h) and its
// tensors under their Hugging Face names, dequantized to float32 (bit-exact with gguf-py) with
// llama.cpp's Q/K row order undone, so a GGUF model loads, trains and exports like a HF folder.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>

#include "io/gguf.h"
#include "io/model_config.h"

namespace dpo {

struct GgufModelFile {
  GgufHeader header;
  ModelConfig config;
  std::map<std::string, at::Tensor> tensors;  // HF names, float32, CPU
};

// Whether `path` names a GGUF model file (a regular file ending in .gguf).
bool is_gguf_file(const std::filesystem::path& path);

// Reads and validates the whole file (mmap). UserError naming the file and the key or tensor for
// a malformed file, an unsupported architecture or tensor type, or a tensor with no HF name.
GgufModelFile load_gguf_model(const std::filesystem::path& path);

// Just the header (metadata and tensor infos) of a GGUF file.
GgufHeader read_gguf_header(const std::filesystem::path& path);

}  // namespace dpo
