// Writing a model or a LoRA adapter as GGUF, as llama.cpp's convert_hf_to_gguf.py and
// convert_lora_to_gguf.py do: names, Q/K permutation, types (1-D tensors and norms stay F32),
// hyperparameters, tokenizer, general.* metadata. Tensors arrive with their Hugging Face names.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "io/model_config.h"

namespace dpo {

// The --type names: f32, f16, bf16, q8_0 -> ggml type; UserError naming `what` otherwise.
uint32_t parse_gguf_export_type(const std::string& text, const std::string& what);

// The model (HF name -> tensor, any dtype) from `model_dir` (config.json, tokenizer files) as
// GGUF at `output`, written atomically. general.name is the title of `name_source`'s folder name.
void write_gguf_model(const std::filesystem::path& output, const std::filesystem::path& model_dir,
                      const ModelConfig& config,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      uint32_t ggml_type);

struct GgufLoraModule {
  std::string module;  // "model.layers.0.self_attn.q_proj"
  at::Tensor a;        // (R, in)
  at::Tensor b;        // (out, R)
};

// A LoRA adapter as GGUF: general.type adapter, adapter.type lora, adapter.lora.alpha, tensors
// blk.N.<name>.weight.lora_a / .lora_b (lora_b of q/k permuted like the base weights).
void write_gguf_lora(const std::filesystem::path& output, const std::filesystem::path& adapter_dir,
                     const ModelConfig& config, const std::vector<GgufLoraModule>& modules,
                     double alpha, uint32_t ggml_type);

// llama.cpp's Q/K row order from HF's: rows regrouped per head (n_head, 2, D/2) -> (n_head, D/2,
// 2).
at::Tensor gguf_permute_qk(const at::Tensor& w, int64_t n_head);
// The inverse (GGUF -> HF).
at::Tensor gguf_unpermute_qk(const at::Tensor& w, int64_t n_head);

}  // namespace dpo
