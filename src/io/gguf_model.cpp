// HF <-> GGUF names and hyperparameters (convert_hf_to_gguf.py's LlamaModel and Qwen2Model).
#include "io/gguf_model.h"

#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>

#include <fmt/format.h>

#include "io/gguf_quants.h"
#include "util/error.h"

namespace dpo {

namespace {

// Per-layer suffixes: HF module inside model.layers.N -> GGUF name inside blk.N.
const std::pair<const char*, const char*> kLayerNames[] = {
    {"input_layernorm", "attn_norm"},    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},      {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"}, {"post_attention_layernorm", "ffn_norm"},
    {"mlp.gate_proj", "ffn_gate"},       {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
};
const std::pair<const char*, const char*> kGlobalNames[] = {
    {"model.embed_tokens", "token_embd"},
    {"model.norm", "output_norm"},
    {"lm_head", "output"},
};

// Splits "a.b.weight" into ("a.b", "weight").
bool split_suffix(const std::string& name, std::string* module, std::string* suffix) {
  size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  *module = name.substr(0, dot);
  *suffix = name.substr(dot + 1);
  return *suffix == "weight" || *suffix == "bias";
}

std::string arch_key(const GgufArchitecture& a, const char* key) {
  return a.name + "." + key;
}

}  // namespace

GgufArchitecture gguf_architecture(const std::string& model_type) {
  if (model_type == "llama" || model_type == "mistral") return {"llama", true, true};
  if (model_type == "qwen2") return {"qwen2", false, false};
  throw_user_error("model_type '{}' cannot be exported as GGUF (supported: llama, mistral, qwen2)",
                   model_type);
}

std::string model_type_for_gguf_architecture(const std::string& arch, const std::string& source) {
  if (arch == "llama" || arch == "qwen2") return arch;
  throw_user_error("{}: general.architecture '{}' is not supported (supported: llama, qwen2)",
                   source, arch);
}

std::string gguf_tensor_name(const std::string& hf_name) {
  std::string module, suffix;
  if (!split_suffix(hf_name, &module, &suffix)) return "";
  for (const auto& [hf, gguf] : kGlobalNames)
    if (module == hf) return std::string(gguf) + "." + suffix;
  static const std::regex layer(R"(model\.layers\.(\d+)\.(.+))");
  std::smatch m;
  if (!std::regex_match(module, m, layer)) return "";
  for (const auto& [hf, gguf] : kLayerNames)
    if (m[2] == hf) return "blk." + m[1].str() + "." + gguf + "." + suffix;
  return "";
}

std::string hf_tensor_name(const std::string& gguf_name) {
  std::string module, suffix;
  if (!split_suffix(gguf_name, &module, &suffix)) return "";
  for (const auto& [hf, gguf] : kGlobalNames)
    if (module == gguf) return std::string(hf) + "." + suffix;
  static const std::regex layer(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (!std::regex_match(module, m, layer)) return "";
  for (const auto& [hf, gguf] : kLayerNames)
    if (m[2] == gguf) return "model.layers." + m[1].str() + "." + hf + "." + suffix;
  return "";
}

uint32_t gguf_file_type(uint32_t ggml_type) {
  switch (ggml_type) {
    case kGgmlF32:
      return 0;
    case kGgmlF16:
      return 1;
    case kGgmlQ8_0:
      return 7;
    case kGgmlBF16:
      return 32;
    default:
      throw_internal_error("no GGUF file type for {}", ggml_type_name(ggml_type));
  }
}

namespace {

// YaRN's keys as convert_hf_to_gguf.py writes them: type, factor and original context always;
// attention_factor, beta_fast and beta_slow when config.json's RoPE dict names them (mscale,
// mscale_all_dim and truncate have no GGUF key: the converter drops them too).
void add_gguf_yarn(GgufWriter& w, const GgufArchitecture& a, const RopeConfig& rope,
                   const nlohmann::json& raw) {
  auto f32 = [](double v) { return GgufValue::f32(static_cast<float>(v)); };
  nlohmann::json given = nlohmann::json::object();
  if (raw.is_object())
    for (const char* key : {"rope_parameters", "rope_scaling"})
      if (raw.contains(key) && raw[key].is_object()) {
        given = raw[key];
        break;
      }
  auto named = [&given](const char* key) { return given.contains(key) && !given[key].is_null(); };
  w.add(arch_key(a, "rope.scaling.type"), GgufValue::str("yarn"));
  w.add(arch_key(a, "rope.scaling.factor"), f32(rope.factor));
  w.add(arch_key(a, "rope.scaling.original_context_length"),
        GgufValue::u32(static_cast<uint32_t>(rope.original_max_position_embeddings)));
  if (rope.attention_factor > 0)
    w.add(arch_key(a, "rope.scaling.yarn_attn_factor"), f32(rope.attention_factor));
  if (named("beta_fast")) w.add(arch_key(a, "rope.scaling.yarn_beta_fast"), f32(rope.beta_fast));
  if (named("beta_slow")) w.add(arch_key(a, "rope.scaling.yarn_beta_slow"), f32(rope.beta_slow));
}

}  // namespace

void add_gguf_hparams(GgufWriter& w, const GgufArchitecture& a, const ModelConfig& c,
                      const std::string& config_json, uint32_t file_type) {
  auto u32 = [](int64_t v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  w.add(arch_key(a, "block_count"), u32(c.num_hidden_layers));
  w.add(arch_key(a, "context_length"), u32(c.max_position_embeddings));
  w.add(arch_key(a, "embedding_length"), u32(c.hidden_size));
  w.add(arch_key(a, "feed_forward_length"), u32(c.intermediate_size));
  w.add(arch_key(a, "attention.head_count"), u32(c.num_attention_heads));
  w.add(arch_key(a, "attention.head_count_kv"), u32(c.num_key_value_heads));
  nlohmann::json raw = nlohmann::json::parse(config_json, nullptr, false);
  if (c.rope.type == "linear") {
    w.add(arch_key(a, "rope.scaling.type"), GgufValue::str("linear"));
    w.add(arch_key(a, "rope.scaling.factor"), GgufValue::f32(static_cast<float>(c.rope.factor)));
  } else if (c.rope.type == "yarn") {
    add_gguf_yarn(w, a, c.rope, raw);
  }
  w.add(arch_key(a, "rope.freq_base"), GgufValue::f32(static_cast<float>(c.rope.theta)));
  w.add(arch_key(a, "attention.layer_norm_rms_epsilon"),
        GgufValue::f32(static_cast<float>(c.rms_norm_eps)));
  if (raw.is_object() && raw.contains("head_dim") && !raw["head_dim"].is_null()) {
    w.add(arch_key(a, "attention.key_length"), u32(c.head_dim));
    w.add(arch_key(a, "attention.value_length"), u32(c.head_dim));
  }
  w.add("general.file_type", GgufValue::u32(file_type));
  if (a.llama_keys) {
    w.add(arch_key(a, "vocab_size"), u32(c.vocab_size));
    w.add(arch_key(a, "rope.dimension_count"), u32(c.head_dim));
  }
}

std::vector<float> llama3_rope_factors(const RopeConfig& rope, int64_t head_dim) {
  // float32 throughout, as the converter's torch code: freq = 1 / base^(i/dim), wavelen = 2pi/freq.
  const float base = static_cast<float>(rope.theta);
  const float old_ctx = static_cast<float>(rope.original_max_position_embeddings);
  const float low = static_cast<float>(rope.low_freq_factor);
  const float high = static_cast<float>(rope.high_freq_factor);
  const float factor = static_cast<float>(rope.factor);
  // Python floats, compared with float32 tensors (so in float32).
  const auto low_wavelen = static_cast<float>(
      static_cast<double>(rope.original_max_position_embeddings) / rope.low_freq_factor);
  const auto high_wavelen = static_cast<float>(
      static_cast<double>(rope.original_max_position_embeddings) / rope.high_freq_factor);
  std::vector<float> out;
  for (int64_t i = 0; i < head_dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(head_dim);
    const float freq = 1.0f / std::pow(base, exponent);
    const float wavelen = static_cast<float>(2.0 * M_PI) / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(factor);
    } else {
      const float smooth = (old_ctx / wavelen - low) / (high - low);
      out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return out;
}

std::string gguf_title(const std::string& folder_name) {
  static const std::regex version_like(R"(^(v\d+(?:\.\d+)*|\d.*)$)");
  std::string text = folder_name, out;
  for (char& ch : text)
    if (ch == '-') ch = ' ';
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
    size_t end = pos;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    if (end == pos) break;
    std::string word = text.substr(pos, end - pos);
    bool has_upper = false, has_cased = false;
    for (char ch : word) {
      has_upper |= std::isupper(static_cast<unsigned char>(ch)) != 0;
      has_cased |= std::isalpha(static_cast<unsigned char>(ch)) != 0;
    }
    if (has_cased && !has_upper && !std::regex_match(word, version_like)) {
      bool start = true;  // str.title(): upper after a non-letter, lower after a letter
      for (char& ch : word) {
        bool alpha = std::isalpha(static_cast<unsigned char>(ch)) != 0;
        if (alpha && start) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        start = !alpha;
      }
    }
    if (!out.empty()) out += ' ';
    out += word;
    pos = end;
  }
  return out;
}

std::string gguf_size_label(uint64_t params) {
  const double n = static_cast<double>(params);
  double scaled;
  const char* suffix;
  if (n > 1e12) {
    scaled = n * 1e-12, suffix = "T";
  } else if (n > 1e9) {
    scaled = n * 1e-9, suffix = "B";
  } else if (n > 1e6) {
    scaled = n * 1e-6, suffix = "M";
  } else {
    scaled = n * 1e-3, suffix = "K";
  }
  std::string rounded = fmt::format("{}", static_cast<int64_t>(std::nearbyint(scaled)));
  size_t lead = rounded.find_first_not_of('0');
  size_t digits = lead == std::string::npos ? 0 : rounded.size() - lead;
  int fix = std::max(2 - static_cast<int>(digits), 0);
  return fmt::format("{:.{}f}{}", scaled, fix, suffix);
}

namespace {

struct MetaReader {
  const GgufHeader& h;
  const std::string& source;
  std::string prefix;  // "llama."

  const GgufValue* get(const std::string& key) const { return h.find(prefix + key); }
  std::string what(const std::string& key) const { return source + ": key '" + prefix + key + "'"; }
  int64_t positive(const std::string& key) const {
    const GgufValue* v = get(key);
    if (!v) throw_user_error("{} is missing", what(key));
    int64_t n = v->as_int(what(key));
    if (n <= 0 || n > (int64_t{1} << 40))
      throw_user_error("{}: expected a positive count, got {}", what(key), n);
    return n;
  }
  int64_t positive_or(const std::string& key, int64_t fallback) const {
    return get(key) ? positive(key) : fallback;
  }
  double number_or(const std::string& key, double fallback) const {
    const GgufValue* v = get(key);
    return v ? v->as_number(what(key)) : fallback;
  }
};

}  // namespace

ModelConfig model_config_from_gguf(const GgufHeader& h, const std::string& source) {
  const GgufValue* arch_value = h.find("general.architecture");
  if (!arch_value) throw_user_error("{}: key 'general.architecture' is missing", source);
  const std::string arch = arch_value->as_string(source + ": key 'general.architecture'");
  if (const GgufValue* type = h.find("general.type"))
    if (type->type == GgufType::kString && type->s == "adapter")
      throw_user_error("{}: a GGUF adapter (general.type adapter), not a model", source);
  ModelConfig c;
  c.model_type = model_type_for_gguf_architecture(arch, source);
  MetaReader r{h, source, arch + "."};
  c.num_hidden_layers = r.positive("block_count");
  c.hidden_size = r.positive("embedding_length");
  c.intermediate_size = r.positive("feed_forward_length");
  c.num_attention_heads = r.positive("attention.head_count");
  c.num_key_value_heads = r.positive_or("attention.head_count_kv", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw_user_error("{}: head_count {} is not a multiple of head_count_kv {}", source,
                     c.num_attention_heads, c.num_key_value_heads);
  if (c.hidden_size % c.num_attention_heads != 0 && !r.get("attention.key_length"))
    throw_user_error("{}: embedding_length {} is not divisible by head_count {}", source,
                     c.hidden_size, c.num_attention_heads);
  c.head_dim = r.positive_or("attention.key_length", c.hidden_size / c.num_attention_heads);
  if (r.positive_or("attention.value_length", c.head_dim) != c.head_dim)
    throw_user_error("{}: value_length differs from key_length (not a Llama-family model)", source);
  if (c.head_dim % 2 != 0) throw_user_error("{}: head dimension {} is odd", source, c.head_dim);
  if (r.positive_or("rope.dimension_count", c.head_dim) != c.head_dim)
    throw_user_error(
        "{}: rope.dimension_count {} differs from the head dimension {} (partial "
        "RoPE is not supported)",
        source, r.positive("rope.dimension_count"), c.head_dim);
  c.max_position_embeddings = r.positive_or("context_length", 2048);
  c.rope.theta = r.number_or("rope.freq_base", 10000.0);
  if (!(c.rope.theta > 0)) throw_user_error("{}: positive rope.freq_base expected", source);
  if (!r.get("attention.layer_norm_rms_epsilon"))
    throw_user_error("{} is missing", r.what("attention.layer_norm_rms_epsilon"));
  c.rms_norm_eps = r.number_or("attention.layer_norm_rms_epsilon", 1e-6);
  if (const GgufValue* s = r.get("rope.scaling.type")) {
    const std::string type = s->as_string(r.what("rope.scaling.type"));
    if (type == "linear") {
      c.rope.type = "linear";
      c.rope.factor = r.number_or("rope.scaling.factor", 1.0);
      if (!(c.rope.factor > 0))
        throw_user_error("{}: expected a positive factor", r.what("rope.scaling.factor"));
    } else if (type != "none") {
      throw_user_error("{}: '{}' is not supported (supported: none, linear)",
                       r.what("rope.scaling.type"), type);
    }
  }
  if (h.tensor("rope_freqs.weight"))
    throw_user_error("{}: Llama-3 RoPE scaling (rope_freqs.weight) is not supported for GGUF input",
                     source);
  const GgufTensorInfo* embd = h.tensor("token_embd.weight");
  if (!embd || embd->dims.size() != 2)
    throw_user_error("{}: tensor 'token_embd.weight' (2 dimensions) is missing", source);
  c.vocab_size = static_cast<int64_t>(embd->dims[1]);
  c.tie_word_embeddings = h.tensor("output.weight") == nullptr;
  c.attention_bias = c.model_type == "qwen2" || h.tensor("blk.0.attn_q.bias") != nullptr;
  c.mlp_bias = h.tensor("blk.0.ffn_gate.bias") != nullptr;
  auto id = [&](const char* key, std::vector<int64_t>& out) {
    if (const GgufValue* v = h.find(key)) out = {v->as_int(source + ": key '" + key + "'")};
  };
  id("tokenizer.ggml.bos_token_id", c.bos_token_ids);
  id("tokenizer.ggml.eos_token_id", c.eos_token_ids);
  std::vector<int64_t> pad;
  id("tokenizer.ggml.padding_token_id", pad);
  if (!pad.empty()) c.pad_token_id = pad[0];
  return c;
}

}  // namespace dpo
