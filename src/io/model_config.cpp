// ModelConfig from a Hugging Face config.json: llama, mistral, qwen2; RoPE from the classic keys
// (rope_theta, rope_scaling) and from transformers 5's rope_parameters.
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

const std::vector<std::string> kModelTypes = {"llama", "mistral", "qwen2"};
const std::vector<std::string> kRopeTypes = {"default", "linear", "dynamic", "llama3"};

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

// rope_scaling / rope_parameters: type ("type" or "rope_type") and its factors.
void read_rope_scaling(const Reader& r, RopeConfig& rope, int64_t max_positions) {
  std::string type = r.string_or("rope_type", r.string_or("type", "default"));
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
      r.positive_or("original_max_position_embeddings", max_positions);
  if (type == "llama3") {
    if (!r.has("factor")) r.fail("factor", "a number (required for llama3 RoPE)");
    rope.low_freq_factor = r.number_or("low_freq_factor", 1.0);
    rope.high_freq_factor = r.number_or("high_freq_factor", 4.0);
    if (!r.has("original_max_position_embeddings"))
      r.fail("original_max_position_embeddings", "an integer (required for llama3 RoPE)");
    if (!(rope.high_freq_factor > rope.low_freq_factor))
      r.fail("high_freq_factor", "a number above low_freq_factor");
  }
}

RopeConfig read_rope(const json& root, const std::string& source, int64_t max_positions) {
  RopeConfig rope;
  Reader top{root, source, ""};
  rope.theta = top.number_or("rope_theta", 10000.0);
  if (top.has("rope_parameters")) {
    const json& params = root["rope_parameters"];
    if (!params.is_object()) top.fail("rope_parameters", "an object");
    Reader r{params, source, "rope_parameters."};
    rope.theta = r.number_or("rope_theta", rope.theta);
    read_rope_scaling(r, rope, max_positions);
  } else if (top.has("rope_scaling")) {
    const json& scaling = root["rope_scaling"];
    if (!scaling.is_object()) top.fail("rope_scaling", "an object or null");
    read_rope_scaling(Reader{scaling, source, "rope_scaling."}, rope, max_positions);
  }
  if (!(rope.theta > 0)) top.fail("rope_theta", "a positive number");
  return rope;
}

}  // namespace

int64_t ModelConfig::num_parameters() const {
  const int64_t h = hidden_size, q = num_attention_heads * head_dim,
                kv = num_key_value_heads * head_dim;
  const int64_t layer = h * q + 2 * h * kv + q * h + 3 * h * intermediate_size + 2 * h;
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
  c.tie_word_embeddings = r.boolean_or("tie_word_embeddings", false);
  c.attention_bias = c.model_type == "qwen2" ? true : r.boolean_or("attention_bias", false);
  c.mlp_bias = c.model_type == "llama" ? r.boolean_or("mlp_bias", false) : false;
  bool uses_window = c.model_type == "mistral" || r.boolean_or("use_sliding_window", false);
  if (uses_window && r.has("sliding_window")) c.sliding_window = r.positive("sliding_window");
  c.bos_token_ids = r.ids("bos_token_id");
  c.eos_token_ids = r.ids("eos_token_id");
  std::vector<int64_t> pad = r.ids("pad_token_id");
  if (!pad.empty()) c.pad_token_id = pad[0];
  c.rope = read_rope(root, source_name, c.max_position_embeddings);
  c.torch_dtype = r.string_or("torch_dtype", r.string_or("dtype", ""));
  std::string act = r.string_or("hidden_act", "silu");
  if (act != "silu")
    throw_user_error("{}: hidden_act '{}' is not supported (supported: silu)", source_name, act);
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& config_json) {
  return from_json_text(read_file(config_json), config_json.string());
}

std::string ModelConfig::to_json_text() const {
  nlohmann::ordered_json j;
  j["architectures"] = {model_type == "qwen2"     ? "Qwen2ForCausalLM"
                        : model_type == "mistral" ? "MistralForCausalLM"
                                                  : "LlamaForCausalLM"};
  j["model_type"] = model_type;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = rms_norm_eps;
  j["vocab_size"] = vocab_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type == "llama") {
    j["attention_bias"] = attention_bias;
    j["mlp_bias"] = mlp_bias;
  }
  if (sliding_window) j["sliding_window"] = *sliding_window;
  if (model_type == "qwen2") j["use_sliding_window"] = sliding_window.has_value();
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
    j["rope_scaling"] = std::move(s);
  }
  if (!torch_dtype.empty()) j["torch_dtype"] = torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace dpo
