// Llama-family forward pass: embed, decoder layers (pre-norm attention and SwiGLU MLP with
// residuals), final RMSNorm, lm_head. Matches transformers' LlamaModel / MistralModel /
// Qwen2Model / Qwen3Model (q/k norms) / SmolLM3Model (layers without RoPE), sliding windows
// included, and Gemma2Model / Gemma3TextModel (scaled embeddings, (1 + w) sandwich norms, GeGLU,
// the query pre-attention scalar, soft-capping, local layers with their own RoPE).
// Shape legend: N rows, T time, S keys, C hidden, H heads, Hkv kv heads, D head dim, V vocab.
#include "model/llama.h"

#include <ATen/ATen.h>

#include <cmath>
#include <tuple>

#include "io/gguf_load.h"
#include "io/safetensors.h"
#include "model/attention.h"
#include "model/checkpoint.h"
#include "model/kv_cache.h"
#include "model/llama_weights.h"
#include "model/rmsnorm.h"
#include "model/rope.h"
#include "model/varlen_attention.h"
#include "util/error.h"
#include "util/fs.h"

namespace dpo {

namespace {

// What every layer of one forward pass shares.
struct LayerInputs {
  at::Tensor cos, sin;  // (N, T, D); (L, D) with L = N*T tokens when varlen is defined
  // gemma3's sliding layers: their own cos/sin, shaped as cos/sin; undefined otherwise.
  at::Tensor cos_local, sin_local;
  at::Tensor allowed;  // (N, 1, T, S) bool, or undefined = causal (or varlen)
  // (N, 1, T, S) bool for the sliding-window layers when some sequence is longer than the
  // window; undefined otherwise (the window then hides nothing: those layers take `allowed`).
  at::Tensor allowed_sliding;
  VarlenLayout varlen;  // packed rows taken as one stream of sequences: no mask
  AttentionBackend backend = AttentionBackend::kPlain;  // the model's dense backend

  const at::Tensor& mask_of(const ModelConfig& c, size_t layer) const {
    return allowed_sliding.defined() && c.layer_is_sliding(layer) ? allowed_sliding : allowed;
  }
  bool local_rope(const ModelConfig& c, size_t layer) const {
    return cos_local.defined() && c.layer_is_sliding(layer);
  }
};

// The model's RMSNorm: Llama's, or Gemma's with (1 + w).
at::Tensor norm(const ModelConfig& c, const at::Tensor& x, const at::Tensor& weight) {
  return c.norm_plus_one ? rms_norm_plus_one(x, weight, c.rms_norm_eps)
                         : rms_norm(x, weight, c.rms_norm_eps);
}

// What queries are multiplied by so that attention's 1/sqrt(D) scaling becomes gemma's
// 1/sqrt(query_pre_attn_scalar); 1 for every other model.
double query_rescale(const ModelConfig& c) {
  if (!(c.query_pre_attn_scalar > 0)) return 1.0;
  return std::sqrt(static_cast<double>(c.head_dim) / c.query_pre_attn_scalar);
}

// Queries (..., H, D) and keys (..., Hkv, D) made ready for attention: each head RMS-normed
// where the model has q/k norms (qwen3, gemma3), rotated by position (except in smollm3's layers
// without RoPE; gemma3's local layers by their own RoPE), queries rescaled for gemma's
// query_pre_attn_scalar.
void prepare_queries_keys(const DecoderLayerWeights& l, const ModelConfig& c, size_t layer,
                          const LayerInputs& in, at::Tensor& q, at::Tensor& k) {
  if (c.qk_norm) {
    q = norm(c, q, l.q_norm);
    k = norm(c, k, l.k_norm);
  }
  if (c.layer_uses_rope(layer)) {
    const bool local = in.local_rope(c, layer);
    const at::Tensor& cos = local ? in.cos_local : in.cos;
    const at::Tensor& sin = local ? in.sin_local : in.sin;
    q = apply_rope(q, cos, sin);
    k = apply_rope(k, cos, sin);
  }
  const double rescale = query_rescale(c);
  if (rescale != 1.0) q = q * rescale;
}

// Queries (..., H*D), keys and values (..., Hkv*D) of x (..., C): three projections, or phi3's
// one fused projection split in that order.
std::tuple<at::Tensor, at::Tensor, at::Tensor> project_qkv(const DecoderLayerWeights& l,
                                                           const ModelConfig& c,
                                                           const at::Tensor& x) {
  if (!c.fused_projections) return {l.q_proj.forward(x), l.k_proj.forward(x), l.v_proj.forward(x)};
  const int64_t q_width = c.num_attention_heads * c.head_dim,
                kv_width = c.num_key_value_heads * c.head_dim;
  at::Tensor qkv = l.qkv_proj.forward(x);  // (..., (H + 2 Hkv) * D)
  return {qkv.narrow(-1, 0, q_width), qkv.narrow(-1, q_width, kv_width),
          qkv.narrow(-1, q_width + kv_width, kv_width)};
}

// Packed rows through variable-length attention: tokens as one stream (L, heads, D) throughout,
// which is also the flash kernel's layout (no transposes).
at::Tensor varlen_self_attention(const DecoderLayerWeights& l, const ModelConfig& c, size_t layer,
                                 const at::Tensor& x, const LayerInputs& in) {
  int64_t N = x.size(0), T = x.size(1), L = N * T, H = c.num_attention_heads,
          Hkv = c.num_key_value_heads, D = c.head_dim;
  auto [q, k, v] = project_qkv(l, c, x);
  q = q.reshape({L, H, D});    // (L, H, D)
  k = k.reshape({L, Hkv, D});  // (L, Hkv, D)
  v = v.reshape({L, Hkv, D});  // (L, Hkv, D)
  prepare_queries_keys(l, c, layer, in, q, k);
  at::Tensor y =
      varlen_attention(q, k, v, in.varlen, in.backend).reshape({N, T, H * D});  // (N, T, H*D)
  return l.o_proj.forward(y);                                                   // (N, T, C)
}

at::Tensor self_attention(const DecoderLayerWeights& l, const ModelConfig& c, size_t layer,
                          const at::Tensor& x, const LayerInputs& in, KVCache* cache) {
  if (in.varlen.defined()) return varlen_self_attention(l, c, layer, x, in);
  int64_t N = x.size(0), T = x.size(1), H = c.num_attention_heads, Hkv = c.num_key_value_heads,
          D = c.head_dim;
  // Project to heads.
  auto [q, k, v] = project_qkv(l, c, x);
  q = q.reshape({N, T, H, D}).transpose(1, 2);    // (N, H, T, D)
  k = k.reshape({N, T, Hkv, D}).transpose(1, 2);  // (N, Hkv, T, D)
  v = v.reshape({N, T, Hkv, D}).transpose(1, 2);  // (N, Hkv, T, D)
  // Normalize and rotate queries and keys by position.
  prepare_queries_keys(l, c, layer, in, q, k);
  // Past keys/values come first when decoding incrementally.
  if (cache) std::tie(k, v) = cache->append(static_cast<int64_t>(layer), k, v);  // (1, Hkv, S, D)
  at::Tensor y = attention(q, k, v, in.mask_of(c, layer), in.backend,
                           c.attn_logit_softcapping);  // (N, H, T, D)
  y = y.transpose(1, 2).reshape({N, T, H * D});        // (N, T, H*D)
  return l.o_proj.forward(y);                          // (N, T, C)
}

// The gate's activation: silu (SwiGLU), or GELU, tanh-approximated or exact (gemma's GeGLU).
at::Tensor gate_activation(const ModelConfig& c, const at::Tensor& x) {
  if (c.hidden_act == "gelu_pytorch_tanh") return at::gelu(x, "tanh");
  if (c.hidden_act == "gelu") return at::gelu(x);
  return at::silu(x);
}

// Gated MLP: down(act(gate(x)) * up(x)); phi3's gate and up from one fused projection.
at::Tensor mlp(const DecoderLayerWeights& l, const ModelConfig& c, const at::Tensor& x) {
  if (c.fused_projections) {
    at::Tensor gate_up = l.gate_up_proj.forward(x);  // (..., 2 I)
    const int64_t I = c.intermediate_size;
    return l.down_proj.forward(gate_activation(c, gate_up.narrow(-1, 0, I)) *
                               gate_up.narrow(-1, I, I));
  }
  return l.down_proj.forward(gate_activation(c, l.gate_proj.forward(x)) * l.up_proj.forward(x));
}

at::Tensor decoder_layer(const DecoderLayerWeights& l, const ModelConfig& c, size_t layer,
                         const at::Tensor& h, const LayerInputs& in, KVCache* cache) {
  at::Tensor attn = self_attention(l, c, layer, norm(c, h, l.input_layernorm), in, cache);
  if (!c.sandwich_norms) {
    at::Tensor x = h + attn;
    return x + mlp(l, c, norm(c, x, l.post_attention_layernorm));  // (N, T, C)
  }
  // Gemma: each block's output normed before its residual add.
  at::Tensor x = h + norm(c, attn, l.post_attention_layernorm);
  at::Tensor y = mlp(l, c, norm(c, x, l.pre_feedforward_layernorm));
  return x + norm(c, y, l.post_feedforward_layernorm);  // (N, T, C)
}

// Token embeddings, times sqrt(C) in gemma (the scale rounded to the weights' dtype first, as
// Gemma's scaled embedding does). ids (N, T) -> (N, T, C)
at::Tensor embed(const LlamaWeights& w, const at::Tensor& ids) {
  at::Tensor h = at::embedding(w.embed_tokens, ids.to(w.device));
  if (!w.config.scale_embeddings) return h;
  const double scale = std::sqrt(static_cast<double>(w.config.hidden_size));
  return h * at::scalar_tensor(scale, at::kFloat).to(w.dtype).to(w.device);
}

// The segments of a batch whose attention variable-length sequences can compute: packed (and
// prompt-sharing) rows as they are; right-padded rows as their sequence (0) then their padding
// (-1). Undefined for an explicit `allowed` mask, plain causal rows, and a padding mask with holes.
at::Tensor varlen_segments(const ModelInput& input) {
  if (input.allowed.defined()) return at::Tensor();
  if (input.segment_ids.defined()) return input.segment_ids;
  if (!input.attention_mask.defined()) return at::Tensor();
  at::Tensor real = input.attention_mask.ne(0);  // (N, T)
  int64_t T = real.size(1);
  if (T > 1 && real.narrow(1, 1, T - 1).gt(real.narrow(1, 0, T - 1)).any().item<bool>())
    return at::Tensor();  // a real token after padding
  return real.to(at::kLong) - 1;
}

// Whether the window of the sliding layers hides keys from some query of a batch whose
// positions are `positions` (restarting at 0 for every sequence).
bool window_binds(const ModelConfig& c, const at::Tensor& positions) {
  return c.sliding_window && positions.numel() > 0 &&
         positions.max().item<int64_t>() + 1 > *c.sliding_window;
}

LayerInputs layer_inputs(const LlamaWeights& w, const ModelInput& input) {
  int64_t N = input.input_ids.size(0), T = input.input_ids.size(1);
  at::Tensor positions = resolve_position_ids(input).to(w.device);  // (N, T)
  LayerInputs in;
  std::tie(in.cos, in.sin) = w.rope.cos_sin(positions, w.dtype);  // (N, T, D)
  if (w.config.local_rope)
    std::tie(in.cos_local, in.sin_local) = w.local_rope.cos_sin(positions, w.dtype);
  in.backend = w.attention.backend;
  const bool shared_prefix = input.branch_ids.defined();
  // Variable-length attention has no window and no soft-capping: such batches take the masks.
  const bool windowed = window_binds(w.config, positions);
  if (!windowed && !(w.config.attn_logit_softcapping > 0) &&
      uses_varlen_attention(w.device, w.dtype, w.config.head_dim, w.attention, shared_prefix)) {
    at::Tensor segments = varlen_segments(input);  // (N, T)
    if (segments.defined()) {
      int64_t D = in.cos.size(-1);
      for (at::Tensor* t : {&in.cos, &in.sin, &in.cos_local, &in.sin_local})
        if (t->defined()) *t = t->reshape({N * T, D});  // (L, D)
      in.varlen = build_varlen_layout(segments, input.branch_ids, w.device);
      return in;
    }
  }
  in.allowed = build_allowed_mask(input, T, w.device);
  if (windowed)
    in.allowed_sliding =
        sliding_window_mask(in.allowed, positions, positions, *w.config.sliding_window);
  return in;
}

void check_input(const LlamaWeights& w, const ModelInput& input) {
  DPO_CHECK(input.input_ids.defined() && input.input_ids.dim() == 2, "input_ids must be (N, T)");
  at::Tensor ids = input.input_ids;
  if (ids.numel() == 0) return;
  int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
  if (lo < 0 || hi >= w.config.vocab_size)
    throw_user_error("token id {} is outside the vocabulary (0..{})", lo < 0 ? lo : hi,
                     w.config.vocab_size - 1);
}

// Runs every layer; `all` (when given) receives the hidden states HF's output_hidden_states
// returns.
at::Tensor run_layers(const LlamaWeights& w, const ModelInput& input,
                      std::vector<at::Tensor>* all) {
  check_input(w, input);
  LayerInputs in = layer_inputs(w, input);
  at::Tensor h = embed(w, input.input_ids);  // (N, T, C)
  bool checkpointing = w.gradient_checkpointing && at::GradMode::is_enabled();
  for (size_t i = 0; i < w.layers.size(); ++i) {
    if (all) all->push_back(h);
    const DecoderLayerWeights& layer = w.layers[i];
    if (checkpointing) {
      const ModelConfig& config = w.config;
      h = checkpoint_block(
          [&layer, &config, i, in](const at::Tensor& x) {
            return decoder_layer(layer, config, i, x, in, nullptr);
          },
          h);
    } else {
      h = decoder_layer(layer, w.config, i, h, in, nullptr);
    }
  }
  h = norm(w.config, h, w.norm);  // (N, T, C)
  if (all) all->push_back(h);
  return h;
}

std::unique_ptr<LlamaWeights> empty_weights(const ModelConfig& config, at::ScalarType dtype,
                                            at::Device device) {
  auto w = std::make_unique<LlamaWeights>();
  w->config = config;
  w->dtype = dtype;
  w->device = device;
  w->layers.resize(config.num_hidden_layers);
  w->rope = RotaryEmbedding(config);
  if (config.local_rope) {
    ModelConfig local = config;
    local.rope = *config.local_rope;
    w->local_rope = RotaryEmbedding(local);
  }
  return w;
}

}  // namespace

LlamaModel::LlamaModel(std::unique_ptr<LlamaWeights> weights) : w_(std::move(weights)) {}
LlamaModel::LlamaModel(LlamaModel&&) noexcept = default;
LlamaModel& LlamaModel::operator=(LlamaModel&&) noexcept = default;
LlamaModel::~LlamaModel() = default;

LlamaModel LlamaModel::load(const std::filesystem::path& dir, at::ScalarType dtype,
                            at::Device device) {
  if (is_gguf_file(dir)) {  // a GGUF model file: dequantized, HF names
    GgufModelFile file = load_gguf_model(dir);
    auto w = empty_weights(file.config, dtype, device);
    assign_weights(*w, file.tensors, dir.string());
    return LlamaModel(std::move(w));
  }
  if (!fs::is_directory(dir)) throw_user_error("{}: model folder does not exist", dir.string());
  if (!fs::exists(dir / "config.json") && fs::exists(dir / "adapter_config.json"))
    throw_user_error(
        "{}: a LoRA adapter folder (adapter_config.json, no config.json), not a model; give it as "
        "the adapter (--adapter) and its base model as the model",
        dir.string());
  ModelConfig config = ModelConfig::from_file(dir / "config.json");
  auto w = empty_weights(config, dtype, device);
  assign_weights(*w, load_safetensors_dir(dir), dir.string());
  return LlamaModel(std::move(w));
}

LlamaModel LlamaModel::random(const ModelConfig& config, at::ScalarType dtype, at::Device device,
                              uint64_t seed) {
  auto w = empty_weights(config, dtype, device);
  init_random_weights(*w, seed);
  return LlamaModel(std::move(w));
}

const ModelConfig& LlamaModel::config() const {
  return w_->config;
}
at::ScalarType LlamaModel::dtype() const {
  return w_->dtype;
}
at::Device LlamaModel::device() const {
  return w_->device;
}

std::vector<std::pair<std::string, at::Tensor>> LlamaModel::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const WeightSlot& slot : weight_slots(*w_)) out.emplace_back(slot.name, *slot.tensor);
  return out;
}

std::vector<std::pair<std::string, Linear*>> LlamaModel::named_linears() {
  return linear_modules(*w_);
}

at::Tensor LlamaModel::forward_hidden(const ModelInput& input) const {
  return run_layers(*w_, input, nullptr);
}

std::vector<at::Tensor> LlamaModel::forward_hidden_states(const ModelInput& input) const {
  std::vector<at::Tensor> all;
  run_layers(*w_, input, &all);
  return all;
}

at::Tensor LlamaModel::logits(const at::Tensor& hidden) const {
  at::Tensor out = w_->lm_head.forward(hidden);
  const double cap = w_->config.final_logit_softcapping;
  return cap > 0 ? at::tanh(out / cap) * cap : out;  // gemma2's final soft-capping
}

const at::Tensor& LlamaModel::lm_head_weight() const {
  return w_->lm_head.weight;
}

at::Tensor LlamaModel::forward_step(const at::Tensor& input_ids, KVCache& cache) const {
  ModelInput input;
  input.input_ids = input_ids;
  int64_t t = input_ids.size(1);
  check_input(*w_, input);
  const int64_t S = cache.length() + t;  // keys: cached + new positions
  auto options = at::TensorOptions().dtype(at::kLong).device(w_->device);
  at::Tensor positions = at::arange(cache.length(), S, options).unsqueeze(0);  // (1, t)
  // Causal over cached + new positions; the sliding layers also within their window.
  LayerInputs in;
  std::tie(in.cos, in.sin) = w_->rope.cos_sin(positions, w_->dtype);
  if (w_->config.local_rope)
    std::tie(in.cos_local, in.sin_local) = w_->local_rope.cos_sin(positions, w_->dtype);
  in.backend = w_->attention.backend;
  const auto& window = w_->config.sliding_window;
  if (window && S > *window)
    in.allowed_sliding =
        sliding_window_mask(at::Tensor(), positions, at::arange(S, options).unsqueeze(0), *window);
  at::Tensor h = embed(*w_, input_ids);  // (1, t, C)
  for (size_t i = 0; i < w_->layers.size(); ++i)
    h = decoder_layer(w_->layers[i], w_->config, i, h, in, &cache);
  cache.advance(t);
  at::Tensor last = h.select(1, t - 1);             // (1, C)
  return logits(norm(w_->config, last, w_->norm));  // (1, V)
}

std::unique_ptr<KVCache> LlamaModel::make_cache(int64_t max_tokens) const {
  const ModelConfig& c = w_->config;
  return std::make_unique<KVCache>(c.num_hidden_layers, c.num_key_value_heads, c.head_dim,
                                   max_tokens, w_->dtype, w_->device);
}

bool LlamaModel::packed_rows_use_varlen_attention(bool shared_prefix) const {
  return uses_varlen_attention(w_->device, w_->dtype, w_->config.head_dim, w_->attention,
                               shared_prefix);
}

void LlamaModel::set_attention(const AttentionChoice& choice) {
  DPO_CHECK(choice.backend == AttentionBackend::kPlain ||
                default_attention_backend() == AttentionBackend::kSdpa,
            "scaled_dot_product_attention needs libtorch >= 2");
  w_->attention = choice;
}

const AttentionChoice& LlamaModel::attention() const {
  return w_->attention;
}

void LlamaModel::set_gradient_checkpointing(bool on) {
  w_->gradient_checkpointing = on;
}
bool LlamaModel::gradient_checkpointing() const {
  return w_->gradient_checkpointing;
}

}  // namespace dpo
