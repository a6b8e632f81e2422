// ModelConfig from a Hugging Face config.json (model_type llama, mistral, qwen2, qwen3, smollm3,
// gemma2, gemma3_text, phi3).
// Plain C++ (no libtorch): parsing and validation only.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dpo {

struct RopeConfig {
  std::string type = "default";  // default | linear | llama3 | dynamic | yarn | longrope
  double theta = 10000.0;
  double factor = 1.0;            // linear, dynamic, llama3, yarn, longrope
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  // llama3, dynamic, yarn, longrope (0 = max_position_embeddings)
  int64_t original_max_position_embeddings = 0;
  // yarn, longrope: what cos and sin are multiplied by; 0 = derived from factor (yarn: and
  // mscale / mscale_all_dim), as transformers does without the key.
  double attention_factor = 0;
  double beta_fast = 32.0;    // yarn: the ramp's start, in rotations over the original length
  double beta_slow = 1.0;     // yarn: the ramp's end
  double mscale = 0;          // yarn: 0 = not given (transformers' "if mscale and mscale_all_dim")
  double mscale_all_dim = 0;  // yarn: 0 = not given
  bool truncate = true;       // yarn: the ramp's bounds rounded out to whole dimensions
  // longrope (head_dim / 2 each): short up to original_max_position_embeddings, long past it
  std::vector<double> short_factor;
  std::vector<double> long_factor;
};

struct ModelConfig {
  // llama | mistral | qwen2 | qwen3 | smollm3 | gemma2 | gemma3_text | phi3
  std::string model_type;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // given, or hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v (and o for llama) bias; qwen2: q/k/v always
  bool mlp_bias = false;
  bool qk_norm = false;  // qwen3, gemma3_text: an RMSNorm over each head of q and of k, before RoPE
  // phi3: q/k/v as one linear layer (self_attn.qkv_proj: (H + 2 Hkv) * D outputs, in that
  // order) and gate/up as one (mlp.gate_up_proj: 2 I outputs, gate first).
  bool fused_projections = false;
  // Gemma (gemma2, gemma3_text):
  bool scale_embeddings = false;  // embeddings times sqrt(hidden_size)
  bool norm_plus_one = false;     // RMSNorm weights w applied as (1 + w), in fp32
  // Sandwich norms: attention and MLP outputs normed (post_attention_layernorm,
  // post_feedforward_layernorm) before their residual add, the MLP input by
  // pre_feedforward_layernorm; without them post_attention_layernorm is the MLP's input norm.
  bool sandwich_norms = false;
  std::string hidden_act = "silu";     // the MLP's gate activation: silu | gelu_pytorch_tanh | gelu
  double query_pre_attn_scalar = 0;    // attention scores times its -1/2 power; 0: head_dim's
  double attn_logit_softcapping = 0;   // scores -> cap * tanh(scores / cap); 0: none
  double final_logit_softcapping = 0;  // logits -> cap * tanh(logits / cap); 0: none
  // Sliding-window attention: a query sees the last `sliding_window` positions (itself
  // included) in the layers marked in sliding_layers (mistral: all; qwen2/qwen3: from
  // max_window_layers on; layer_types when given). Unset: every layer attends in full.
  std::optional<int64_t> sliding_window;
  std::vector<bool> sliding_layers;  // (num_hidden_layers) when sliding_window is set
  std::vector<bool> rope_layers;     // (num_hidden_layers): false where smollm3 skips RoPE
  std::vector<int64_t> bos_token_ids;
  std::vector<int64_t> eos_token_ids;  // eos_token_id may be an int or a list
  std::optional<int64_t> pad_token_id;
  RopeConfig rope;
  // gemma3_text: the sliding layers' own RoPE (rope_local_base_freq, or rope_parameters'
  // "sliding_attention"); `rope` is then the full-attention layers'.
  std::optional<RopeConfig> local_rope;
  std::string torch_dtype;  // as written ("bfloat16", "float32", ...)

  bool layer_is_sliding(size_t layer) const {
    return sliding_window && layer < sliding_layers.size() && sliding_layers[layer];
  }
  bool layer_uses_rope(size_t layer) const {
    return layer >= rope_layers.size() || rope_layers[layer];
  }

  // Weights of the model this config describes (embeddings, layers, norms, lm_head unless tied).
  int64_t num_parameters() const;

  // UserError naming the file and key on a missing/mistyped key or unsupported value.
  static ModelConfig from_json_text(const std::string& text, const std::string& source_name);
  static ModelConfig from_file(const std::filesystem::path& config_json);
  // A config.json text (HF keys) describing this config; used when writing merged models.
  std::string to_json_text() const;
};

}  // namespace dpo
