// LoraConfig: PEFT's module matching rules and adapter_config.json.
#include "lora/lora_config.h"

#include <algorithm>
#include <cmath>
#include <regex>

#include "util/error.h"
#include "util/json.h"
#include "util/json_depth.h"
#include "util/strings.h"

namespace dpo {

namespace {

using json = nlohmann::json;

std::string lowercase(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return text;
}

bool name_matches(const std::string& name, const std::vector<std::string>& keys) {
  for (const auto& key : keys)
    if (name == key || ends_with(name, "." + key)) return true;
  return false;
}

std::regex compile_regex(const std::string& pattern, const std::string& what) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw_user_error("{}: invalid regular expression '{}' ({})", what, pattern, e.what());
  }
}

// PEFT's get_pattern_key: the first key k with re.match(r"(.*\.)?(k)$", name).
template <typename T>
const T* pattern_value(const std::map<std::string, T>& patterns, const std::string& name) {
  for (const auto& [key, value] : patterns) {
    if (std::regex_match(name,
                         compile_regex("(.*\\.)?(" + key + ")", "rank_pattern/alpha_pattern")))
      return &value;
  }
  return nullptr;
}

// The layer index of "model.layers.3.mlp.up_proj" (PEFT: the first ".<name>.<digits>." group).
std::optional<int64_t> layer_index(const std::string& name) {
  static const std::regex pattern(R"(^.*?\.[^.]*\.(\d+)\..*$)");
  std::smatch match;
  if (!std::regex_match(name, match, pattern)) return std::nullopt;
  return std::stoll(match[1].str());
}

// PEFT 0.21's adapter_config.json keys with their defaults.
json peft_defaults() {
  return json{{"alora_invocation_tokens", nullptr},
              {"alpha_pattern", json::object()},
              {"arrow_config", nullptr},
              {"auto_mapping", nullptr},
              {"base_model_name_or_path", nullptr},
              {"bias", "none"},
              {"corda_config", nullptr},
              {"ensure_weight_tying", false},
              {"eva_config", nullptr},
              {"exclude_modules", nullptr},
              {"fan_in_fan_out", false},
              {"inference_mode", true},
              {"init_lora_weights", true},
              {"kasa_config", nullptr},
              {"layer_replication", nullptr},
              {"layers_pattern", nullptr},
              {"layers_to_transform", nullptr},
              {"loftq_config", json::object()},
              {"lora_alpha", 8},
              {"lora_bias", false},
              {"lora_dropout", 0.0},
              {"lora_ga_config", nullptr},
              {"megatron_config", nullptr},
              {"megatron_core", "megatron.core"},
              {"modules_to_save", nullptr},
              {"monteclora_config", nullptr},
              {"peft_type", "LORA"},
              {"peft_version", "0.21.0"},
              {"qalora_group_size", 16},
              {"r", 8},
              {"rank_pattern", json::object()},
              {"revision", nullptr},
              {"target_modules", nullptr},
              {"target_parameters", nullptr},
              {"task_type", "CAUSAL_LM"},
              {"trainable_token_indices", nullptr},
              {"use_bdlora", nullptr},
              {"use_dora", false},
              {"use_qalora", false},
              {"use_rslora", false},
              {"velora_config", nullptr}};
}

json number(double value) {
  if (std::floor(value) == value && std::abs(value) < 1e15)
    return json(static_cast<int64_t>(value));
  return json(value);
}

// Typed reads with messages naming the file and key.
struct Reader {
  const json& doc;
  const std::string& source;

  bool has(const char* key) const { return doc.contains(key) && !doc.at(key).is_null(); }
  [[noreturn]] void bad(const char* key, const char* expected) const {
    throw_user_error("{}: key '{}': expected {}, got {}", source, key, expected,
                     doc.at(key).dump());
  }
  int64_t integer(const char* key) const {
    if (!doc.at(key).is_number_integer()) bad(key, "an integer");
    return doc.at(key).get<int64_t>();
  }
  double real(const char* key) const {
    if (!doc.at(key).is_number()) bad(key, "a number");
    return doc.at(key).get<double>();
  }
  bool boolean(const char* key) const {
    if (!doc.at(key).is_boolean()) bad(key, "true or false");
    return doc.at(key).get<bool>();
  }
  std::string string(const char* key) const {
    if (!doc.at(key).is_string()) bad(key, "a string");
    return doc.at(key).get<std::string>();
  }
  std::vector<std::string> strings(const char* key) const {
    std::vector<std::string> out;
    if (!doc.at(key).is_array()) bad(key, "a list of strings");
    for (const auto& item : doc.at(key)) {
      if (!item.is_string()) bad(key, "a list of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  // Keys that must be absent, null, false, empty or equal to `allowed` for dpo.cpp to load it.
  void require_default(const char* key, const json& allowed, const char* feature) const {
    if (!has(key)) return;
    const json& value = doc.at(key);
    bool empty = (value.is_array() || value.is_object()) && value.empty();
    if (value == allowed || empty || value == json(false)) return;
    throw_user_error("{}: key '{}' = {}: {} is not supported by dpo.cpp", source, key, value.dump(),
                     feature);
  }
};

void read_targets(const Reader& in, LoraConfig& config) {
  if (!in.has("target_modules")) throw_user_error("{}: key 'target_modules' is missing", in.source);
  const json& targets = in.doc.at("target_modules");
  if (targets.is_string()) {
    std::string text = targets.get<std::string>();
    if (lowercase(text) == "all-linear") {
      config.target_modules = {"all-linear"};
    } else {
      config.target_regex = text;
    }
  } else {
    config.target_modules = in.strings("target_modules");
  }
  if (in.has("exclude_modules")) {
    if (in.doc.at("exclude_modules").is_string())
      config.exclude_regex = in.string("exclude_modules");
    else
      config.exclude_modules = in.strings("exclude_modules");
  }
  if (in.has("layers_to_transform")) {
    const json& layers = in.doc.at("layers_to_transform");
    if (layers.is_number_integer()) {
      config.layers_to_transform = {layers.get<int64_t>()};
    } else {
      if (!layers.is_array()) in.bad("layers_to_transform", "an integer or a list of integers");
      for (const auto& item : layers) {
        if (!item.is_number_integer())
          in.bad("layers_to_transform", "an integer or a list of integers");
        config.layers_to_transform.push_back(item.get<int64_t>());
      }
    }
  }
  if (in.has("layers_pattern")) {
    const json& pattern = in.doc.at("layers_pattern");
    bool is_layers = pattern == json("layers") || pattern == json::array({"layers"});
    if (!is_layers && !(pattern.is_array() && pattern.empty()))
      throw_user_error("{}: key 'layers_pattern' = {}: only 'layers' is supported", in.source,
                       pattern.dump());
  }
}

void read_patterns(const Reader& in, LoraConfig& config) {
  if (in.has("rank_pattern")) {
    if (!in.doc.at("rank_pattern").is_object()) in.bad("rank_pattern", "an object {module: rank}");
    for (const auto& [key, value] : in.doc.at("rank_pattern").items()) {
      if (!value.is_number_integer()) in.bad("rank_pattern", "an object {module: integer rank}");
      config.rank_pattern[key] = value.get<int64_t>();
    }
  }
  if (in.has("alpha_pattern")) {
    if (!in.doc.at("alpha_pattern").is_object())
      in.bad("alpha_pattern", "an object {module: alpha}");
    for (const auto& [key, value] : in.doc.at("alpha_pattern").items()) {
      if (!value.is_number()) in.bad("alpha_pattern", "an object {module: number}");
      config.alpha_pattern[key] = value.get<double>();
    }
  }
}

}  // namespace

int64_t LoraConfig::rank_for(const std::string& module_name) const {
  const int64_t* value = pattern_value(rank_pattern, module_name);
  return value ? *value : r;
}

double LoraConfig::alpha_for(const std::string& module_name) const {
  const double* value = pattern_value(alpha_pattern, module_name);
  return value ? *value : lora_alpha;
}

double LoraConfig::scaling_for(const std::string& module_name) const {
  double rank = static_cast<double>(rank_for(module_name));
  return alpha_for(module_name) / (use_rslora ? std::sqrt(rank) : rank);
}

bool LoraConfig::targets(const std::string& module_name) const {
  if (exclude_regex &&
      std::regex_match(module_name, compile_regex(*exclude_regex, "exclude_modules")))
    return false;
  if (name_matches(module_name, exclude_modules)) return false;
  bool found = false;
  if (target_regex) {
    found = std::regex_match(module_name, compile_regex(*target_regex, "target_modules"));
  } else if (target_modules.size() == 1 && target_modules[0] == "all-linear") {
    found = module_name != "lm_head" && !ends_with(module_name, ".lm_head");
  } else {
    found = name_matches(module_name, target_modules);
    if (found && !layers_to_transform.empty()) {
      std::optional<int64_t> layer = layer_index(module_name);
      found = false;
      for (int64_t wanted : layers_to_transform) found = found || (layer && *layer == wanted);
    }
  }
  return found;
}

void LoraConfig::validate() const {
  if (r < 1) throw_user_error("lora_r must be >= 1 (got {})", r);
  if (!(lora_dropout >= 0.0 && lora_dropout < 1.0))
    throw_user_error("lora_dropout must lie in [0, 1) (got {})", lora_dropout);
  if (!target_regex && target_modules.empty())
    throw_user_error(
        "lora_target_modules is empty; name the modules (e.g. q_proj, v_proj) or use all-linear");
  if (target_regex) compile_regex(*target_regex, "lora_target_modules");
  for (const auto& [key, rank] : rank_pattern)
    if (rank < 1) throw_user_error("rank_pattern '{}': rank must be >= 1 (got {})", key, rank);
}

namespace {

// `names` with every one of `parts` present replaced by `fused` where parts.front() was.
void fuse_names(std::vector<std::string>& names, const std::vector<std::string>& parts,
                const std::string& fused) {
  auto has = [&names](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  if (!std::all_of(parts.begin(), parts.end(), has) || has(fused)) return;
  std::vector<std::string> out;
  for (const std::string& n : names) {
    if (n == parts.front())
      out.push_back(fused);
    else if (std::find(parts.begin(), parts.end(), n) == parts.end())
      out.push_back(n);
  }
  names = out;
}

}  // namespace

LoraConfig with_fused_target_names(LoraConfig config) {
  if (config.target_regex) return config;
  fuse_names(config.target_modules, {"q_proj", "k_proj", "v_proj"}, "qkv_proj");
  fuse_names(config.target_modules, {"gate_proj", "up_proj"}, "gate_up_proj");
  return config;
}

std::string lora_config_to_json(const LoraConfig& config) {
  json doc = peft_defaults();
  if (config.loaded_json.is_object())
    for (const auto& [key, value] : config.loaded_json.items()) doc[key] = value;
  doc["r"] = config.r;
  doc["lora_alpha"] = number(config.lora_alpha);
  doc["lora_dropout"] = config.lora_dropout;
  doc["use_rslora"] = config.use_rslora;
  if (config.target_regex)
    doc["target_modules"] = *config.target_regex;
  else
    doc["target_modules"] = config.target_modules;
  if (config.exclude_regex)
    doc["exclude_modules"] = *config.exclude_regex;
  else if (!config.exclude_modules.empty())
    doc["exclude_modules"] = config.exclude_modules;
  if (!config.layers_to_transform.empty()) doc["layers_to_transform"] = config.layers_to_transform;
  json ranks = json::object(), alphas = json::object();
  for (const auto& [key, rank] : config.rank_pattern) ranks[key] = rank;
  for (const auto& [key, alpha] : config.alpha_pattern) alphas[key] = number(alpha);
  doc["rank_pattern"] = ranks;
  doc["alpha_pattern"] = alphas;
  if (config.init_lora_weights == "true" || config.init_lora_weights == "false")
    doc["init_lora_weights"] = config.init_lora_weights == "true";
  else
    doc["init_lora_weights"] = config.init_lora_weights;
  if (config.base_model_name_or_path.empty())
    doc["base_model_name_or_path"] = nullptr;
  else
    doc["base_model_name_or_path"] = config.base_model_name_or_path;
  doc["peft_type"] = "LORA";
  doc["task_type"] = "CAUSAL_LM";
  doc["inference_mode"] = true;
  return doc.dump(2);
}

LoraConfig lora_config_from_json(const std::string& text, const std::string& source) {
  json doc = parse_json(text, source);
  if (!doc.is_object()) throw_user_error("{}: expected a JSON object", source);
  Reader in{doc, source};
  if (!in.has("peft_type") || in.string("peft_type") != "LORA")
    throw_user_error(
        "{}: key 'peft_type' must be \"LORA\" (got {}); only LoRA adapters are supported", source,
        doc.contains("peft_type") ? doc.at("peft_type").dump() : "nothing");
  in.require_default("use_dora", json(false), "DoRA");
  in.require_default("bias", json("none"), "training biases");
  in.require_default("lora_bias", json(false), "a LoRA bias");
  in.require_default("modules_to_save", json(nullptr), "modules_to_save");
  in.require_default("fan_in_fan_out", json(false), "fan_in_fan_out (Conv1D models)");
  in.require_default("layer_replication", json(nullptr), "layer replication");
  in.require_default("trainable_token_indices", json(nullptr), "trainable tokens");
  in.require_default("target_parameters", json(nullptr), "target_parameters");
  in.require_default("use_qalora", json(false), "QALoRA");
  in.require_default("alora_invocation_tokens", json(nullptr), "aLoRA");

  LoraConfig config;
  config.loaded_json = doc;
  config.r = in.has("r") ? in.integer("r") : 8;  // PEFT's defaults
  config.lora_alpha = in.has("lora_alpha") ? in.real("lora_alpha") : 8.0;
  config.lora_dropout = in.has("lora_dropout") ? in.real("lora_dropout") : 0.0;
  if (in.has("use_rslora")) config.use_rslora = in.boolean("use_rslora");
  read_targets(in, config);
  read_patterns(in, config);
  if (in.has("init_lora_weights")) {
    const json& init = doc.at("init_lora_weights");
    // Only used when creating an adapter; a loaded one keeps what it says (pissa, eva, ...).
    config.init_lora_weights = init.is_boolean()  ? (init.get<bool>() ? "true" : "false")
                               : init.is_string() ? init.get<std::string>()
                                                  : init.dump();
  }
  if (in.has("base_model_name_or_path"))
    config.base_model_name_or_path = in.string("base_model_name_or_path");
  try {
    config.validate();
  } catch (const UserError& e) {
    throw_user_error("{}: {}", source, e.what());
  }
  return config;
}

}  // namespace dpo
