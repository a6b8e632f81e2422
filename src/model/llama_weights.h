// The parameters of a Llama-family decoder, named as Hugging Face names them, plus loading from
// a model folder and seeded random initialization.
// Shape legend: V vocab, C hidden, I intermediate, H heads, Hkv kv heads, D head dim.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "model/attention.h"
#include "model/linear.h"
#include "model/rope.h"

namespace dpo {

struct DecoderLayerWeights {
  at::Tensor input_layernorm;             // (C)
  Linear q_proj, k_proj, v_proj, o_proj;  // (H*D, C), (Hkv*D, C), (Hkv*D, C), (C, H*D)
  at::Tensor q_norm, k_norm;              // (D) each; qwen3, gemma3 (config.qk_norm)
  at::Tensor post_attention_layernorm;    // (C)
  // Gemma's sandwich norms (config.sandwich_norms): the MLP's input and output norms.
  at::Tensor pre_feedforward_layernorm, post_feedforward_layernorm;  // (C) each
  Linear gate_proj, up_proj, down_proj;                              // (I, C), (I, C), (C, I)
  // phi3 (config.fused_projections), in place of q/k/v_proj and gate/up_proj:
  Linear qkv_proj;      // ((H + 2 Hkv) * D, C): q, k, v stacked
  Linear gate_up_proj;  // (2 I, C): gate, up stacked
};

struct LlamaWeights {
  ModelConfig config;
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
  at::Tensor embed_tokens;  // (V, C)
  std::vector<DecoderLayerWeights> layers;
  at::Tensor norm;  // (C)
  Linear lm_head;   // (V, C); shares embed_tokens when tied
  RotaryEmbedding rope;
  RotaryEmbedding local_rope;  // gemma3's sliding layers (config.local_rope); else unused
  bool gradient_checkpointing = false;
  AttentionChoice attention;  // the dense backend and when packed rows take varlen
};

// How a tensor is initialized when drawn at random (transformers' _init_weights).
enum class WeightInit { kNormal, kOnes, kZeros };

struct WeightSlot {
  std::string name;            // HF name, e.g. "model.layers.0.self_attn.q_proj.weight"
  std::vector<int64_t> shape;  // expected shape
  WeightInit init;
  at::Tensor* tensor;  // where it lives inside LlamaWeights
};

// Every parameter of the model (lm_head omitted when tied), in HF order. `w.layers` must already
// have config.num_hidden_layers entries.
std::vector<WeightSlot> weight_slots(LlamaWeights& w);

// Module names of the linear layers ("model.layers.0.self_attn.q_proj", ..., "lm_head").
std::vector<std::pair<std::string, Linear*>> linear_modules(LlamaWeights& w);

// Fills the weights from a name -> tensor map (converted to w.dtype / w.device). One UserError
// (naming `source`) listing every missing, unexpected and mis-shaped tensor.
void assign_weights(LlamaWeights& w, const std::map<std::string, at::Tensor>& tensors,
                    const std::string& source);
// HF initialization: normal(0, 0.02) for matrices and the embedding, ones for norms, zero
// biases; drawn in fp32 on the CPU from `seed`, then converted.
void init_random_weights(LlamaWeights& w, uint64_t seed);

}  // namespace dpo
