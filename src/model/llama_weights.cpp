#include "model/llama_weights.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "util/error.h"
#include "util/strings.h"

namespace dpo {

namespace {

void add_linear(std::vector<WeightSlot>& slots, const std::string& module, Linear& linear,
                int64_t out, int64_t in, bool bias) {
  slots.push_back({module + ".weight", {out, in}, WeightInit::kNormal, &linear.weight});
  if (bias) slots.push_back({module + ".bias", {out}, WeightInit::kZeros, &linear.bias});
}

// One linear layer of a decoder layer: its name under "model.layers.N.", where it lives, its
// (out, in) shape and whether it has a bias.
struct LayerLinear {
  const char* name;
  Linear* linear;
  int64_t out, in;
  bool bias;
};

// The attention's linear layers in HF order: q/k/v (phi3: the fused qkv_proj), then o.
std::vector<LayerLinear> attention_linears(const ModelConfig& c, DecoderLayerWeights& l) {
  const int64_t C = c.hidden_size, q_out = c.num_attention_heads * c.head_dim,
                kv_out = c.num_key_value_heads * c.head_dim;
  const bool qkv_bias = c.attention_bias;
  const bool o_bias = c.attention_bias && c.model_type != "qwen2";  // qwen2: q/k/v only
  std::vector<LayerLinear> out;
  if (c.fused_projections) {
    out.push_back({"self_attn.qkv_proj", &l.qkv_proj, q_out + 2 * kv_out, C, false});
  } else {
    out.push_back({"self_attn.q_proj", &l.q_proj, q_out, C, qkv_bias});
    out.push_back({"self_attn.k_proj", &l.k_proj, kv_out, C, qkv_bias});
    out.push_back({"self_attn.v_proj", &l.v_proj, kv_out, C, qkv_bias});
  }
  out.push_back({"self_attn.o_proj", &l.o_proj, C, q_out, o_bias});
  return out;
}

// The MLP's linear layers in HF order: gate, up (phi3: the fused gate_up_proj), then down.
std::vector<LayerLinear> mlp_linears(const ModelConfig& c, DecoderLayerWeights& l) {
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  std::vector<LayerLinear> out;
  if (c.fused_projections) {
    out.push_back({"mlp.gate_up_proj", &l.gate_up_proj, 2 * I, C, false});
  } else {
    out.push_back({"mlp.gate_proj", &l.gate_proj, I, C, c.mlp_bias});
    out.push_back({"mlp.up_proj", &l.up_proj, I, C, c.mlp_bias});
  }
  out.push_back({"mlp.down_proj", &l.down_proj, C, I, c.mlp_bias});
  return out;
}

void add_linears(std::vector<WeightSlot>& slots, const std::string& prefix,
                 const std::vector<LayerLinear>& linears) {
  for (const LayerLinear& m : linears)
    add_linear(slots, prefix + m.name, *m.linear, m.out, m.in, m.bias);
}

// Tensors some checkpoints carry that are not parameters (old Llama exports save the RoPE buffer).
bool ignorable(const std::string& name, bool tied) {
  return ends_with(name, "rotary_emb.inv_freq") || (tied && name == "lm_head.weight");
}

// Lists at most `limit` names, then "... and K more".
std::string name_list(const std::vector<std::string>& names, size_t limit = 40) {
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(limit, names.size()));
  std::string text = join(shown, ", ");
  if (names.size() > limit) text += fmt::format(" ... and {} more", names.size() - limit);
  return text;
}

}  // namespace

std::vector<WeightSlot> weight_slots(LlamaWeights& w) {
  const ModelConfig& c = w.config;
  const int64_t C = c.hidden_size, D = c.head_dim;
  // RMSNorm weights start at 1, or at 0 where they apply as (1 + w) (Gemma).
  const WeightInit norm_init = c.norm_plus_one ? WeightInit::kZeros : WeightInit::kOnes;
  std::vector<WeightSlot> slots;
  slots.push_back(
      {"model.embed_tokens.weight", {c.vocab_size, C}, WeightInit::kNormal, &w.embed_tokens});
  for (size_t i = 0; i < w.layers.size(); ++i) {
    DecoderLayerWeights& layer = w.layers[i];
    std::string p = fmt::format("model.layers.{}.", i);
    slots.push_back({p + "input_layernorm.weight", {C}, norm_init, &layer.input_layernorm});
    add_linears(slots, p, attention_linears(c, layer));
    if (c.qk_norm) {
      slots.push_back({p + "self_attn.q_norm.weight", {D}, norm_init, &layer.q_norm});
      slots.push_back({p + "self_attn.k_norm.weight", {D}, norm_init, &layer.k_norm});
    }
    slots.push_back(
        {p + "post_attention_layernorm.weight", {C}, norm_init, &layer.post_attention_layernorm});
    if (c.sandwich_norms) {
      slots.push_back({p + "pre_feedforward_layernorm.weight",
                       {C},
                       norm_init,
                       &layer.pre_feedforward_layernorm});
      slots.push_back({p + "post_feedforward_layernorm.weight",
                       {C},
                       norm_init,
                       &layer.post_feedforward_layernorm});
    }
    add_linears(slots, p, mlp_linears(c, layer));
  }
  slots.push_back({"model.norm.weight", {C}, norm_init, &w.norm});
  if (!c.tie_word_embeddings)
    slots.push_back({"lm_head.weight", {c.vocab_size, C}, WeightInit::kNormal, &w.lm_head.weight});
  return slots;
}

std::vector<std::pair<std::string, Linear*>> linear_modules(LlamaWeights& w) {
  std::vector<std::pair<std::string, Linear*>> out;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    std::string p = fmt::format("model.layers.{}.", i);
    for (auto* part : {&attention_linears, &mlp_linears})
      for (const LayerLinear& m : (*part)(w.config, w.layers[i]))
        out.emplace_back(p + m.name, m.linear);
  }
  out.emplace_back("lm_head", &w.lm_head);
  return out;
}

void assign_weights(LlamaWeights& w, const std::map<std::string, at::Tensor>& tensors,
                    const std::string& source) {
  std::vector<std::string> missing, misshaped, unexpected;
  std::set<std::string> known;
  for (WeightSlot& slot : weight_slots(w)) {
    known.insert(slot.name);
    auto it = tensors.find(slot.name);
    if (it == tensors.end()) {
      missing.push_back(slot.name);
      continue;
    }
    if (it->second.sizes().vec() != slot.shape) {
      misshaped.push_back(fmt::format("{} (expected {}, got {})", slot.name, shape_text(slot.shape),
                                      shape_text(it->second.sizes().vec())));
      continue;
    }
    *slot.tensor = it->second.to(w.device, w.dtype);
  }
  for (const auto& kv : tensors)
    if (!known.count(kv.first) && !ignorable(kv.first, w.config.tie_word_embeddings))
      unexpected.push_back(kv.first);
  if (!missing.empty() || !misshaped.empty() || !unexpected.empty()) {
    std::string message =
        fmt::format("{}: weights do not match config.json ({} model, {} layers):", source,
                    w.config.model_type, w.config.num_hidden_layers);
    if (!missing.empty())
      message += fmt::format("\n  missing ({}): {}", missing.size(), name_list(missing));
    if (!misshaped.empty())
      message += fmt::format("\n  wrong shape ({}): {}", misshaped.size(), name_list(misshaped));
    if (!unexpected.empty())
      message += fmt::format("\n  unexpected ({}): {}", unexpected.size(), name_list(unexpected));
    throw UserError(message);
  }
  if (w.config.tie_word_embeddings) w.lm_head.weight = w.embed_tokens;
}

void init_random_weights(LlamaWeights& w, uint64_t seed) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (WeightSlot& slot : weight_slots(w)) {
    at::Tensor t;
    if (slot.init == WeightInit::kNormal)
      t = at::empty(slot.shape, at::kFloat).normal_(0.0, 0.02, generator);
    else if (slot.init == WeightInit::kOnes)
      t = at::ones(slot.shape, at::kFloat);
    else
      t = at::zeros(slot.shape, at::kFloat);
    *slot.tensor = t.to(w.device, w.dtype);
  }
  if (w.config.tie_word_embeddings) w.lm_head.weight = w.embed_tokens;
}

}  // namespace dpo
