// Hugging Face <-> GGUF naming and hyperparameters for the architectures dpo.cpp supports, as
// llama.cpp's convert_hf_to_gguf.py writes them: llama and mistral as GGUF "llama" (Q/K rows
// permuted for llama.cpp's RoPE layout, Llama-3 RoPE as a rope_freqs tensor), qwen2 as "qwen2".
// Plain C++ (no libtorch).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "io/model_config.h"

namespace dpo {

struct GgufArchitecture {
  std::string name;         // general.architecture: "llama" | "qwen2"
  bool permute_qk = false;  // q_proj/k_proj rows regrouped (llama.cpp's undo of HF's RoPE layout)
  bool llama_keys = false;  // {arch}.vocab_size and {arch}.rope.dimension_count
};

// For a config's model_type (llama, mistral, qwen2); UserError for others.
GgufArchitecture gguf_architecture(const std::string& model_type);
// The model_type a GGUF architecture loads as (llama -> llama, qwen2 -> qwen2); UserError naming
// `source` for others.
std::string model_type_for_gguf_architecture(const std::string& arch, const std::string& source);

// "model.layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" for a name with no GGUF
// counterpart.
std::string gguf_tensor_name(const std::string& hf_name);
// The inverse: "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight"; "" when unknown.
std::string hf_tensor_name(const std::string& gguf_name);

// general.file_type of an export type: f32 0, f16 1, q8_0 7, bf16 32.
uint32_t gguf_file_type(uint32_t ggml_type);

// The model's hyperparameter keys (block_count ... rope.dimension_count) as the converter adds
// them; `config_json` is config.json's text (the converter writes key_length only when it has
// head_dim).
void add_gguf_hparams(GgufWriter& w, const GgufArchitecture& arch, const ModelConfig& config,
                      const std::string& config_json, uint32_t file_type);

// Llama-3 RoPE: the per-frequency factors llama.cpp reads from rope_freqs.weight (head_dim/2),
// computed in float32 as the converter does.
std::vector<float> llama3_rope_factors(const RopeConfig& rope, int64_t head_dim);

// general.name from a folder name as gguf-py's Metadata.id_to_title ("tiny-llama" -> "Tiny Llama").
std::string gguf_title(const std::string& folder_name);
// general.size_label from a parameter count ("2.1M", "135M", "1.1B").
std::string gguf_size_label(uint64_t params);

// A ModelConfig from a GGUF model's metadata and tensor infos (the inverse of add_gguf_hparams).
// UserError naming `source` and the key for a missing or mistyped key, or a model dpo.cpp cannot
// run as llama.cpp would (partial RoPE, YaRN, Llama-3 rope_freqs factors).
ModelConfig model_config_from_gguf(const GgufHeader& h, const std::string& source);

}  // namespace dpo
