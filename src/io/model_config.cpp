// ModelConfig from a Hugging Face config.json: llama, mistral, qwen2, qwen3, smollm3, gemma2,
// gemma3_text, phi3; RoPE from the classic keys (rope_theta, rope_scaling, rope_local_base_freq)
// and from transformers 5's rope_parameters (per layer type for gemma3_text).
#include "io/model_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/fs.h"
#include "util/json_depth.h"
#include "util/strings.h"

namespace dpo {

namespace {

using json = nlohmann::json;

const std::vector<std::string> kModelTypes = {"llama",   "mistral", "qwen2",       "qwen3",
                                              "smollm3", "gemma2",  "gemma3_text", "phi3"};
const std::vector<std::string> kGemmaActivations = {"gelu_pytorch_tanh", "gelu"};

bool is_gemma(const std::string& model_type) {
  return model_type == "gemma2" || model_type == "gemma3_text";
}
const std::vector<std::string> kRopeTypes = {"default", "linear", "dynamic",
                                             "llama3",  "yarn",   "longrope"};

// Reads typed keys of one JSON object, naming the source and key in every error.
struct Reader {
  const json& object;
  std::string source;
  std::string prefix;  // "" or "rope_parameters."

  bool has(const char* key) const { return object.contains(key) && !object[key].is_null(); }
  [[noreturn]] void fail(const char* key, const char* expected) const {
    throw_user_error("{}: key \"{}{}\": expected {}, got {}", source, prefix, key, expected,
                     object.contains(key) ? object[key].dump() : "nothing (missing)");
  }
  int64_t integer(const char* key) const {
    if (!has(key) || !object[key].is_number_integer()) fail(key, "an integer");
    return object[key].get<int64_t>();
  }
  int64_t positive(const char* key) const {
    int64_t v = integer(key);
    if (v <= 0) fail(key, "a positive integer");
    return v;
  }
  int64_t positive_or(const char* key, int64_t fallback) const {
    return has(key) ? positive(key) : fallback;
  }
  double number_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!object[key].is_number()) fail(key, "a number");
    return object[key].get<double>();
  }
  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!object[key].is_boolean()) fail(key, "true or false");
    return object[key].get<bool>();
  }
  std::string string_or(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!object[key].is_string()) fail(key, "a string");
    return object[key].get<std::string>();
  }
  // An id, a list of ids, or null.
  // A list of exactly `n` entries each `valid` accepts (`expected` describes one entry).
  template <typename Valid>
  const json& list_of(const char* key, size_t n, const char* expected, Valid valid) const {
    std::string what = fmt::format("a list of {} (one per layer: {})", expected, n);
    if (!has(key) || !object[key].is_array() || object[key].size() != n) fail(key, what.c_str());
    for (const auto& entry : object[key])
      if (!valid(entry)) fail(key, what.c_str());
    return object[key];
  }
  std::vector<int64_t> ids(const char* key) const {
    if (!has(key)) return {};
    const json& v = object[key];
    if (v.is_number_integer()) return {v.get<int64_t>()};
    std::vector<int64_t> out;
    if (!v.is_array()) fail(key, "an integer, a list of integers or null");
    for (const auto& id : v) {
      if (!id.is_number_integer()) fail(key, "an integer, a list of integers or null");
      out.push_back(id.get<int64_t>());
    }
    return out;
  }
};

// attention_factor (yarn, longrope): absent, or a positive number.
double attention_factor(const Reader& r) {
  double v = r.number_or("attention_factor", 0);
  if (r.has("attention_factor") && !(v > 0)) r.fail("attention_factor", "a positive number");
  return v;
}

// YaRN's keys as _compute_yarn_parameters reads them: factor required (null: the ratio of
// max_position_embeddings to the original), beta_fast / beta_slow where 0 means the default.
void read_yarn(const Reader& r, RopeConfig& rope, int64_t max_positions) {
  if (!r.object.contains("factor")) r.fail("factor", "a number (required for yarn RoPE)");
  if (!r.has("factor"))
    rope.factor = static_cast<double>(max_positions) /
                  static_cast<double>(rope.original_max_position_embeddings);
  rope.attention_factor = attention_factor(r);
  rope.beta_fast = r.number_or("beta_fast", 32.0);
  rope.beta_slow = r.number_or("beta_slow", 1.0);
  if (rope.beta_fast == 0) rope.beta_fast = 32.0;  // transformers: `beta_fast or 32`
  if (rope.beta_slow == 0) rope.beta_slow = 1.0;
  if (!(rope.beta_slow > 0)) r.fail("beta_slow", "a positive number");
  if (!(rope.beta_fast > rope.beta_slow)) r.fail("beta_fast", "a number above beta_slow");
  rope.mscale = r.number_or("mscale", 0);
  rope.mscale_all_dim = r.number_or("mscale_all_dim", 0);
  rope.truncate = r.boolean_or("truncate", true);
}

// One of longrope's factor lists: head_dim / 2 positive numbers.
std::vector<double> longrope_factors(const Reader& r, const char* key, int64_t head_dim) {
  const size_t n = static_cast<size_t>(head_dim / 2);
  std::string what =
      fmt::format("a list of {} positive numbers (head_dim / 2; required for longrope RoPE)", n);
  if (!r.has(key) || !r.object[key].is_array() || r.object[key].size() != n)
    r.fail(key, what.c_str());
  std::vector<double> out;
  for (const auto& v : r.object[key]) {
    if (!v.is_number() || !(v.get<double>() > 0)) r.fail(key, what.c_str());
    out.push_back(v.get<double>());
  }
  return out;
}

// LongRoPE's keys as _compute_longrope_parameters reads them: factor absent means the ratio of
// max_position_embeddings to the original.
void read_longrope(const Reader& r, RopeConfig& rope, int64_t max_positions, int64_t head_dim) {
  rope.short_factor = longrope_factors(r, "short_factor", head_dim);
  rope.long_factor = longrope_factors(r, "long_factor", head_dim);
  if (!r.has("factor"))
    rope.factor = static_cast<double>(max_positions) /
                  static_cast<double>(rope.original_max_position_embeddings);
  rope.attention_factor = attention_factor(r);
}

// What a model type changes in reading rope_scaling / rope_parameters (phi3: Phi3Config's).
struct RopeQuirks {
  bool longrope_aliases = false;       // "su" and "yarn" are read as "longrope"
  int64_t original_max_positions = 0;  // > 0: wins over the scaling's own key
};

// RoPE on every dimension of each head: partial_rotary_factor (Phi-4-mini's 0.75) is refused.
void check_full_rotary(const Reader& r) {
  const double factor = r.number_or("partial_rotary_factor", 1.0);
  if (factor != 1.0)
    throw_user_error(
        "{}: key \"{}partial_rotary_factor\": {} (RoPE on part of each head) is not supported "
        "(supported: 1)",
        r.source, r.prefix, factor);
}

// rope_scaling / rope_parameters: type ("type" or "rope_type") and its factors.
void read_rope_scaling(const Reader& r, RopeConfig& rope, int64_t max_positions, int64_t head_dim,
                       const RopeQuirks& quirks = {}) {
  std::string type = r.string_or("rope_type", r.string_or("type", "default"));
  if (quirks.longrope_aliases && (type == "su" || type == "yarn")) type = "longrope";
  check_full_rotary(r);
  if (type == "default" || type == "") {
    rope.type = "default";
    return;
  }
  if (std::find(kRopeTypes.begin(), kRopeTypes.end(), type) == kRopeTypes.end())
    throw_user_error("{}: rope type '{}' is not supported (supported: {})", r.source, type,
                     join(kRopeTypes, ", "));
  rope.type = type;
  rope.factor = r.number_or("factor", 1.0);
  if (!(rope.factor > 0)) r.fail("factor", "a positive number");
  rope.original_max_position_embeddings =
      quirks.original_max_positions > 0
          ? quirks.original_max_positions
          : r.positive_or("original_max_position_embeddings", max_positions);
  if (type == "llama3") {
    if (!r.has("factor")) r.fail("factor", "a number (required for llama3 RoPE)");
    rope.low_freq_factor = r.number_or("low_freq_factor", 1.0);
    rope.high_freq_factor = r.number_or("high_freq_factor", 4.0);
    if (!r.has("original_max_position_embeddings"))
      r.fail("original_max_position_embeddings", "an integer (required for llama3 RoPE)");
    if (!(rope.high_freq_factor > rope.low_freq_factor))
      r.fail("high_freq_factor", "a number above low_freq_factor");
  } else if (type == "yarn") {
    read_yarn(r, rope, max_positions);
  } else if (type == "longrope") {
    read_longrope(r, rope, max_positions, head_dim);
  }
}

RopeConfig read_rope(const json& root, const std::string& source, int64_t max_positions,
                     int64_t head_dim, double default_theta = 10000.0,
                     const RopeQuirks& quirks = {}) {
  RopeConfig rope;
  Reader top{root, source, ""};
  rope.theta = top.number_or("rope_theta", default_theta);
  check_full_rotary(top);
  if (top.has("rope_parameters")) {
    const json& params = root["rope_parameters"];
    if (!params.is_object()) top.fail("rope_parameters", "an object");
    Reader r{params, source, "rope_parameters."};
    rope.theta = r.number_or("rope_theta", rope.theta);
    read_rope_scaling(r, rope, max_positions, head_dim, quirks);
  } else if (top.has("rope_scaling")) {
    const json& scaling = root["rope_scaling"];
    if (!scaling.is_object()) top.fail("rope_scaling", "an object or null");
    read_rope_scaling(Reader{scaling, source, "rope_scaling."}, rope, max_positions, head_dim,
                      quirks);
  }
  if (!(rope.theta > 0)) top.fail("rope_theta", "a positive number");
  return rope;
}

// One layer type's entry of gemma3's rope_parameters ({"full_attention": {...},
// "sliding_attention": {...}}), its theta defaulting to `theta`.
RopeConfig read_layer_type_rope(const json& params, const char* layer_type,
                                const std::string& source, int64_t max_positions, int64_t head_dim,
                                double theta) {
  RopeConfig rope;
  rope.theta = theta;
  Reader outer{params, source, "rope_parameters."};
  if (!outer.has(layer_type)) return rope;
  if (!params[layer_type].is_object()) outer.fail(layer_type, "an object");
  Reader r{params[layer_type], source, std::string("rope_parameters.") + layer_type + "."};
  rope.theta = r.number_or("rope_theta", theta);
  if (!(rope.theta > 0)) r.fail("rope_theta", "a positive number");
  read_rope_scaling(r, rope, max_positions, head_dim);
  return rope;
}

// gemma3_text: the full-attention layers' RoPE (rope_theta, default 1e6, and rope_scaling) and
// the sliding layers' (rope_local_base_freq, default 1e4, never scaled), or both from
// rope_parameters keyed by layer type as transformers 5 writes them.
void read_gemma3_rope(const json& root, const std::string& source, ModelConfig& c) {
  Reader top{root, source, ""};
  const double global_theta = top.number_or("rope_theta", 1000000.0);
  const double local_theta = top.number_or("rope_local_base_freq", 10000.0);
  if (!(local_theta > 0)) top.fail("rope_local_base_freq", "a positive number");
  const bool by_layer_type = top.has("rope_parameters") && root["rope_parameters"].is_object() &&
                             (root["rope_parameters"].contains("full_attention") ||
                              root["rope_parameters"].contains("sliding_attention"));
  if (by_layer_type) {
    const json& params = root["rope_parameters"];
    c.rope = read_layer_type_rope(params, "full_attention", source, c.max_position_embeddings,
                                  c.head_dim, global_theta);
    c.local_rope = read_layer_type_rope(params, "sliding_attention", source,
                                        c.max_position_embeddings, c.head_dim, local_theta);
    if (c.local_rope->type != "default")
      throw_user_error(
          "{}: key \"rope_parameters.sliding_attention\": rope type '{}' for gemma3's sliding "
          "layers is not supported (supported: default; scaling applies to full_attention)",
          source, c.local_rope->type);
  } else {
    c.rope = read_rope(root, source, c.max_position_embeddings, c.head_dim, global_theta);
    RopeConfig local;
    local.theta = local_theta;
    c.local_rope = local;
  }
}

bool is_layer_type(const json& entry) {
  return entry.is_string() && (entry.get<std::string>() == "full_attention" ||
                               entry.get<std::string>() == "sliding_attention");
}

// layer_types when the config lists them, else `fallback(i)` for layer i ("sliding_attention").
template <typename Fallback>
std::vector<bool> sliding_layers_from(const Reader& r, size_t layers, Fallback fallback) {
  std::vector<bool> sliding(layers);
  if (r.has("layer_types")) {
    const json& types = r.list_of("layer_types", layers,
                                  "\"full_attention\" or \"sliding_attention\"", is_layer_type);
    for (size_t i = 0; i < layers; ++i) sliding[i] = types[i] == "sliding_attention";
  } else {
    for (size_t i = 0; i < layers; ++i) sliding[i] = fallback(i);
  }
  return sliding;
}

// Which layers attend within a window, as transformers' configuration classes decide: mistral
// everywhere (sliding_window null turns it off); qwen2/qwen3 with use_sliding_window, from
// max_window_layers on; smollm3 with use_sliding_window, in its layers without RoPE.
void read_sliding_window(const Reader& r, ModelConfig& c) {
  const size_t layers = static_cast<size_t>(c.num_hidden_layers);
  const bool window_given = r.object.contains("sliding_window");
  if (c.model_type == "mistral") {
    if (window_given && r.object["sliding_window"].is_null()) return;
    c.sliding_window = r.positive_or("sliding_window", 4096);
    c.sliding_layers.assign(layers, true);
  } else if (c.model_type == "phi3") {  // every layer, when a window is given
    if (!r.has("sliding_window")) return;
    c.sliding_window = r.positive("sliding_window");
    c.sliding_layers.assign(layers, true);
  } else if (c.model_type == "qwen2" || c.model_type == "qwen3") {
    if (!r.boolean_or("use_sliding_window", false)) return;
    if (window_given && r.object["sliding_window"].is_null()) return;
    c.sliding_window = r.positive_or("sliding_window", 4096);
    const int64_t first = r.has("max_window_layers") ? r.integer("max_window_layers") : 28;
    c.sliding_layers = sliding_layers_from(
        r, layers, [first](size_t i) { return static_cast<int64_t>(i) >= first; });
  } else if (c.model_type == "smollm3") {
    if (!r.boolean_or("use_sliding_window", false) || !r.has("sliding_window")) return;
    c.sliding_window = r.positive("sliding_window");
    c.sliding_layers = sliding_layers_from(r, layers, [&c](size_t i) { return !c.rope_layers[i]; });
  } else if (is_gemma(c.model_type)) {
    if (window_given && r.object["sliding_window"].is_null())
      r.fail("sliding_window", "a positive integer (gemma's local layers attend within it)");
    c.sliding_window = r.positive_or("sliding_window", 4096);
    // gemma2: every other layer from the first; gemma3: all but every sliding_window_pattern-th.
    const int64_t pattern =
        c.model_type == "gemma2" ? 2 : r.positive_or("sliding_window_pattern", 6);
    c.sliding_layers = sliding_layers_from(
        r, layers, [pattern](size_t i) { return (static_cast<int64_t>(i) + 1) % pattern != 0; });
  }
  if (std::find(c.sliding_layers.begin(), c.sliding_layers.end(), true) == c.sliding_layers.end()) {
    c.sliding_window.reset();
    c.sliding_layers.clear();
  }
}

// smollm3's no_rope_layers (1: the layer applies RoPE, 0: it does not), or every
// no_rope_layer_interval-th layer without RoPE (default 4). Every other type: RoPE everywhere.
void read_rope_layers(const Reader& r, ModelConfig& c) {
  const size_t layers = static_cast<size_t>(c.num_hidden_layers);
  c.rope_layers.assign(layers, true);
  if (c.model_type != "smollm3") return;
  if (r.has("no_rope_layers")) {
    const json& flags = r.list_of("no_rope_layers", layers, "0 or 1", [](const json& e) {
      return e.is_number_integer() && (e.get<int64_t>() == 0 || e.get<int64_t>() == 1);
    });
    for (size_t i = 0; i < layers; ++i) c.rope_layers[i] = flags[i].get<int64_t>() == 1;
    return;
  }
  const int64_t interval = r.positive_or("no_rope_layer_interval", 4);
  for (size_t i = 0; i < layers; ++i)
    c.rope_layers[i] = (static_cast<int64_t>(i) + 1) % interval != 0;
}

// A soft-cap key: `fallback` when absent, 0 (off) when null, else a positive number.
double softcap(const Reader& r, const char* key, double fallback) {
  if (r.object.contains(key) && r.object[key].is_null()) return 0;
  const double cap = r.number_or(key, fallback);
  if (cap < 0) r.fail(key, "a positive number or null");
  return cap;
}

// The Gemma keys as Gemma2Config / Gemma3TextConfig default them: scaled embeddings, (1 + w)
// sandwich norms, GeGLU, the query pre-attention scalar and gemma2's soft-capping.
void read_gemma(const Reader& r, ModelConfig& c) {
  c.scale_embeddings = true;
  c.norm_plus_one = true;
  c.sandwich_norms = true;
  c.hidden_act = r.string_or("hidden_activation", "gelu_pytorch_tanh");
  if (std::find(kGemmaActivations.begin(), kGemmaActivations.end(), c.hidden_act) ==
      kGemmaActivations.end())
    throw_user_error("{}: hidden_activation '{}' is not supported (supported: {})", r.source,
                     c.hidden_act, join(kGemmaActivations, ", "));
  c.query_pre_attn_scalar = r.number_or("query_pre_attn_scalar", 256.0);
  if (!(c.query_pre_attn_scalar > 0)) r.fail("query_pre_attn_scalar", "a positive number");
  const bool gemma2 = c.model_type == "gemma2";
  c.attn_logit_softcapping = softcap(r, "attn_logit_softcapping", gemma2 ? 50.0 : 0.0);
  c.final_logit_softcapping = softcap(r, "final_logit_softcapping", gemma2 ? 30.0 : 0.0);
  if (r.boolean_or("use_bidirectional_attention", false))
    throw_user_error(
        "{}: key \"use_bidirectional_attention\": true makes an encoder (EmbeddingGemma), not a "
        "causal language model; dpo.cpp trains causal models only",
        r.source);
}

}  // namespace

int64_t ModelConfig::num_parameters() const {
  const int64_t h = hidden_size, q = num_attention_heads * head_dim,
                kv = num_key_value_heads * head_dim, I = intermediate_size;
  int64_t layer = h * q + 2 * h * kv + q * h + 3 * h * I + 2 * h;
  if (qk_norm) layer += 2 * head_dim;
  if (sandwich_norms) layer += 2 * h;  // pre/post feed-forward norms
  if (attention_bias) layer += q + 2 * kv + (model_type == "qwen2" ? 0 : h);  // qwen2: no o bias
  if (mlp_bias) layer += 2 * I + h;
  return vocab_size * h * (tie_word_embeddings ? 1 : 2) + num_hidden_layers * layer + h;
}

ModelConfig ModelConfig::from_json_text(const std::string& text, const std::string& source_name) {
  check_json_depth(text, source_name);
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) throw_user_error("{}: not valid JSON", source_name);
  if (!root.is_object()) throw_user_error("{}: expected a JSON object", source_name);
  Reader r{root, source_name, ""};
  ModelConfig c;
  c.model_type = r.string_or("model_type", "");
  if (c.model_type.empty())
    throw_user_error("{}: key \"model_type\" is missing (supported: {})", source_name,
                     join(kModelTypes, ", "));
  if (std::find(kModelTypes.begin(), kModelTypes.end(), c.model_type) == kModelTypes.end())
    throw_user_error("{}: model_type '{}' is not supported (supported: {})", source_name,
                     c.model_type, join(kModelTypes, ", "));
  c.hidden_size = r.positive("hidden_size");
  c.intermediate_size = r.positive("intermediate_size");
  c.num_hidden_layers = r.positive("num_hidden_layers");
  c.num_attention_heads = r.positive("num_attention_heads");
  c.num_key_value_heads = r.positive_or("num_key_value_heads", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw_user_error("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}",
                     source_name, c.num_attention_heads, c.num_key_value_heads);
  if (r.has("head_dim")) {
    c.head_dim = r.positive("head_dim");
  } else if (c.model_type == "qwen3") {
    c.head_dim = 128;  // Qwen3Config's default, not hidden_size / num_attention_heads
  } else if (is_gemma(c.model_type)) {
    c.head_dim = 256;  // Gemma2Config's and Gemma3TextConfig's default
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      throw_user_error(
          "{}: hidden_size {} is not divisible by num_attention_heads {} (give head_dim)",
          source_name, c.hidden_size, c.num_attention_heads);
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) r.fail("head_dim", "an even number (RoPE rotates pairs)");
  c.rms_norm_eps = r.number_or("rms_norm_eps", 1e-6);
  c.vocab_size = r.positive("vocab_size");
  c.max_position_embeddings = r.positive_or("max_position_embeddings", 2048);
  c.tie_word_embeddings =
      r.boolean_or("tie_word_embeddings", c.model_type == "smollm3" || is_gemma(c.model_type));
  c.attention_bias = c.model_type == "qwen2" ? true
                     : c.model_type == "mistral" || c.model_type == "phi3"
                         ? false
                         : r.boolean_or("attention_bias", false);
  const bool has_mlp_bias = c.model_type == "llama" || c.model_type == "smollm3";
  c.mlp_bias = has_mlp_bias ? r.boolean_or("mlp_bias", false) : false;
  c.qk_norm = c.model_type == "qwen3" || c.model_type == "gemma3_text";
  c.fused_projections = c.model_type == "phi3";
  read_rope_layers(r, c);
  read_sliding_window(r, c);
  c.bos_token_ids = r.ids("bos_token_id");
  c.eos_token_ids = r.ids("eos_token_id");
  std::vector<int64_t> pad = r.ids("pad_token_id");
  if (!pad.empty()) c.pad_token_id = pad[0];
  if (c.model_type == "gemma3_text") {
    read_gemma3_rope(root, source_name, c);
  } else if (c.model_type == "phi3") {
    // Phi3Config: its top-level original_max_position_embeddings (4096 when absent) is the
    // scaling's; "su" and "yarn" are old names of longrope.
    RopeQuirks phi3{true, r.positive_or("original_max_position_embeddings", 4096)};
    c.rope = read_rope(root, source_name, c.max_position_embeddings, c.head_dim, 10000.0, phi3);
  } else {
    c.rope = read_rope(root, source_name, c.max_position_embeddings, c.head_dim);
  }
  c.torch_dtype = r.string_or("torch_dtype", r.string_or("dtype", ""));
  if (is_gemma(c.model_type)) {
    read_gemma(r, c);
  } else {
    std::string act = r.string_or("hidden_act", "silu");
    if (act != "silu")
      throw_user_error("{}: hidden_act '{}' is not supported (supported: silu)", source_name, act);
  }
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& config_json) {
  return from_json_text(read_file(config_json), config_json.string());
}

std::string ModelConfig::to_json_text() const {
  nlohmann::ordered_json j;
  j["architectures"] = {model_type == "qwen2"         ? "Qwen2ForCausalLM"
                        : model_type == "qwen3"       ? "Qwen3ForCausalLM"
                        : model_type == "smollm3"     ? "SmolLM3ForCausalLM"
                        : model_type == "mistral"     ? "MistralForCausalLM"
                        : model_type == "gemma2"      ? "Gemma2ForCausalLM"
                        : model_type == "gemma3_text" ? "Gemma3ForCausalLM"
                        : model_type == "phi3"        ? "Phi3ForCausalLM"
                                                      : "LlamaForCausalLM"};
  j["model_type"] = model_type;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  if (is_gemma(model_type)) {
    j["hidden_activation"] = hidden_act;
    j["query_pre_attn_scalar"] = query_pre_attn_scalar;
    auto cap = [](double v) { return v > 0 ? nlohmann::ordered_json(v) : nullptr; };
    j["attn_logit_softcapping"] = cap(attn_logit_softcapping);
    j["final_logit_softcapping"] = cap(final_logit_softcapping);
  } else {
    j["hidden_act"] = "silu";
  }
  j["rms_norm_eps"] = rms_norm_eps;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type != "qwen2" && model_type != "mistral") j["attention_bias"] = attention_bias;
  if (model_type == "llama" || model_type == "smollm3") j["mlp_bias"] = mlp_bias;
  if (model_type == "smollm3") {
    std::vector<int> flags;
    for (bool rope_on : rope_layers) flags.push_back(rope_on ? 1 : 0);
    j["no_rope_layers"] = flags;
  }
  if (model_type == "mistral" || model_type == "phi3") {
    j["sliding_window"] = sliding_window ? nlohmann::ordered_json(*sliding_window) : nullptr;
  } else if (model_type != "llama") {
    if (!is_gemma(model_type)) j["use_sliding_window"] = sliding_window.has_value();
    // Gemma's window is never null: with no sliding layer, layer_types says so.
    j["sliding_window"] = sliding_window         ? nlohmann::ordered_json(*sliding_window)
                          : is_gemma(model_type) ? nlohmann::ordered_json(4096)
                                                 : nullptr;
    std::vector<std::string> types;
    for (int64_t i = 0; i < num_hidden_layers; ++i)
      types.push_back(layer_is_sliding(static_cast<size_t>(i)) ? "sliding_attention"
                                                               : "full_attention");
    j["layer_types"] = types;
  }
  auto ids = [](const std::vector<int64_t>& v) -> nlohmann::ordered_json {
    if (v.empty()) return nullptr;
    if (v.size() == 1) return v[0];
    return v;
  };
  j["bos_token_id"] = ids(bos_token_ids);
  j["eos_token_id"] = ids(eos_token_ids);
  j["pad_token_id"] = pad_token_id ? nlohmann::ordered_json(*pad_token_id) : nullptr;
  // Classic keys: read by every transformers version (5 converts them to rope_parameters).
  j["rope_theta"] = rope.theta;
  if (model_type == "phi3")  // Phi3Config puts it in rope_parameters over the scaling's own
    j["original_max_position_embeddings"] = rope.original_max_position_embeddings > 0
                                                ? rope.original_max_position_embeddings
                                                : max_position_embeddings;
  if (local_rope) j["rope_local_base_freq"] = local_rope->theta;  // gemma3: never scaled
  if (rope.type == "default") {
    j["rope_scaling"] = nullptr;
  } else {
    nlohmann::ordered_json s;
    s["rope_type"] = rope.type;
    s["factor"] = rope.factor;
    if (rope.type == "llama3") {
      s["low_freq_factor"] = rope.low_freq_factor;
      s["high_freq_factor"] = rope.high_freq_factor;
    }
    if (rope.original_max_position_embeddings > 0)
      s["original_max_position_embeddings"] = rope.original_max_position_embeddings;
    if (rope.attention_factor > 0) s["attention_factor"] = rope.attention_factor;
    if (rope.type == "yarn") {
      s["beta_fast"] = rope.beta_fast;
      s["beta_slow"] = rope.beta_slow;
      if (rope.mscale != 0) s["mscale"] = rope.mscale;
      if (rope.mscale_all_dim != 0) s["mscale_all_dim"] = rope.mscale_all_dim;
      if (!rope.truncate) s["truncate"] = false;
    }
    if (rope.type == "longrope") {
      s["short_factor"] = rope.short_factor;
      s["long_factor"] = rope.long_factor;
    }
    j["rope_scaling"] = std::move(s);
  }
  if (!torch_dtype.empty()) j["torch_dtype"] = torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace dpo
