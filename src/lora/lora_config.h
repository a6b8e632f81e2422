// LoRA settings as PEFT's LoraConfig, which modules they target, and adapter_config.json.
// Plain C++ (no libtorch).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dpo {

struct LoraConfig {
  int64_t r = 16;
  double lora_alpha = 32;
  double lora_dropout = 0.05;
  bool use_rslora = false;  // scaling alpha / sqrt(r) instead of alpha / r
  // Module names matched as PEFT does: a name in the list matches a module whose full name equals
  // it or ends with "." + it; the single entry "all-linear" matches every linear but lm_head.
  std::vector<std::string> target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                             "gate_proj", "up_proj", "down_proj"};
  // When set, replaces target_modules: a regex matched against the whole module name (PEFT's
  // string target_modules).
  std::optional<std::string> target_regex;
  std::vector<std::string> exclude_modules;  // same matching as target_modules
  std::optional<std::string> exclude_regex;  // PEFT's string exclude_modules (whole-name regex)
  std::vector<int64_t> layers_to_transform;  // empty: every layer
  // Per-module overrides of r and lora_alpha; a key matches a module name that equals it or ends
  // with "." + it (the key may be a regex: PEFT's `(.*\.)?(key)$`).
  std::map<std::string, int64_t> rank_pattern;
  std::map<std::string, double> alpha_pattern;
  // true: A kaiming-uniform, B = 0 (PEFT's default); "gaussian": A ~ N(0, 1/r), B = 0;
  // false: A and B both as torch's nn.Linear default init (non-zero B: policy != reference).
  std::string init_lora_weights = "true";  // "true" | "false" | "gaussian"
  std::string base_model_name_or_path;

  // The rank, alpha and scaling of one module (rank_pattern / alpha_pattern applied).
  int64_t rank_for(const std::string& module_name) const;
  double alpha_for(const std::string& module_name) const;
  double scaling_for(const std::string& module_name) const;
  // Whether a linear layer of the model gets an adapter.
  bool targets(const std::string& module_name) const;

  // UserError for r < 1, dropout outside [0, 1), an invalid regex, empty targets.
  // (init_lora_weights is checked where an adapter is created.)
  void validate() const;
  // Extra keys of a loaded adapter_config.json, written back unchanged on save.
  nlohmann::json loaded_json;
};

// The target names for a model with fused projections (phi3): q_proj, k_proj and v_proj, all
// three listed, become qkv_proj (where q_proj was); gate_proj and up_proj, both listed,
// gate_up_proj (where gate_proj was). Other lists, regexes and all-linear are returned unchanged.
LoraConfig with_fused_target_names(LoraConfig config);

// adapter_config.json as PEFT writes it: every LoraConfig key with PEFT's defaults (the key set
// of peft 0.21), sorted, indent 2.
std::string lora_config_to_json(const LoraConfig& config);
// Parses adapter_config.json text. UserError naming `source` for a non-LoRA adapter, features
// dpo.cpp does not implement (DoRA, lora bias, bias != none, modules_to_save, fan_in_fan_out,
// layer replication, ...), or mistyped keys.
LoraConfig lora_config_from_json(const std::string& text, const std::string& source);

}  // namespace dpo
