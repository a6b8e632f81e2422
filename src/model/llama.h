// Llama-family decoder (Llama 1/2/3, TinyLlama, Mistral, Qwen2/3, SmolLM3, Gemma 2/3) with Hugging
// Face parameter names.
// Shape legend: N rows, T time, C hidden, H heads, Hkv kv heads, D head dim, V vocab.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/model_config.h"
#include "io/model_input.h"
#include "model/attention.h"
#include "model/linear.h"

namespace dpo {

struct LlamaWeights;  // model/llama_weights.h
class KVCache;        // model/kv_cache.h

class LlamaModel {
 public:
  // Loads config.json and (sharded) safetensors from `dir`; weights converted to `dtype` on
  // `device`. UserError listing every missing, unexpected or mis-shaped tensor.
  static LlamaModel load(const std::filesystem::path& dir, at::ScalarType dtype, at::Device device);
  // Random weights of the given shape (benchmarks, the demo's from-scratch model), seeded.
  static LlamaModel random(const ModelConfig& config, at::ScalarType dtype, at::Device device,
                           uint64_t seed);

  const ModelConfig& config() const;
  at::ScalarType dtype() const;
  at::Device device() const;

  // Every parameter with its HF name ("model.layers.0.self_attn.q_proj.weight", "lm_head.weight";
  // lm_head is omitted when tied). Base weights do not require grad.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  // Every linear layer by module name ("model.layers.0.self_attn.q_proj"), for LoRA injection.
  std::vector<std::pair<std::string, Linear*>> named_linears();

  // Final hidden states after the last RMSNorm: (N, T, C).
  at::Tensor forward_hidden(const ModelInput& input) const;
  // lm_head applied to hidden states (then gemma2's final soft-capping): (..., C) -> (..., V).
  at::Tensor logits(const at::Tensor& hidden) const;
  const at::Tensor& lm_head_weight() const;  // (V, C); the embedding when tied
  // All hidden states as HF output_hidden_states returns them (embeddings, after each layer; the
  // last one with the final norm applied).
  std::vector<at::Tensor> forward_hidden_states(const ModelInput& input) const;

  // Incremental decoding with a KV cache: input (1, t) new tokens at positions cache.length()...
  // Returns logits of the last position (1, V).
  at::Tensor forward_step(const at::Tensor& input_ids, KVCache& cache) const;
  std::unique_ptr<KVCache> make_cache(int64_t max_tokens) const;

  // How this model computes attention (model/attention.h): the dense backend and when packed
  // rows take variable-length attention. Chosen per model; the default suits the device.
  void set_attention(const AttentionChoice& choice);
  const AttentionChoice& attention() const;
  // Whether packed rows (segment_ids) and right-padded rows (attention_mask) run variable-length
  // attention on this model's device and dtype under its choice (model/varlen_attention.h): then
  // no mask is built, the width of packed rows costs nothing and one row can hold a whole batch;
  // otherwise they take a dense (N, 1, T, T) mask. `shared_prefix`: rows in the prompt-sharing
  // layout (data/batch.h).
  bool packed_rows_use_varlen_attention(bool shared_prefix = false) const;

  void set_gradient_checkpointing(bool on);
  bool gradient_checkpointing() const;

  LlamaModel(LlamaModel&&) noexcept;
  LlamaModel& operator=(LlamaModel&&) noexcept;
  ~LlamaModel();

 private:
  explicit LlamaModel(std::unique_ptr<LlamaWeights> weights);
  std::unique_ptr<LlamaWeights> w_;
};

}  // namespace dpo
