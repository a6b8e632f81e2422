// The single table of config keys: name, section, type, default, help, and how to read and write
// each one. README's configuration reference (docs/config.md) is generated from and checked against
// this table.
#pragma once
#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <vector>

#include "train/config.h"

namespace dpo {

struct ConfigKey {
  std::string name;
  std::string section;  // model | data | loss | lora | optimization | logging and saving
  std::string type;  // "float", "int", "bool", "string", "list of strings", "int or fraction", ...
  std::string allowed;  // "auto|cpu|cuda" for choices; "" when any value of the type is fine
  std::string help;
  // Reads `node` into the config; `where` ("recipe.yaml line 3" or "override 'beta=0'") appears
  // in the UserError for a wrong type or a value outside `allowed`.
  std::function<void(TrainConfig&, const YAML::Node&, const std::string& where)> read;
  // The value as YAML flow text ("0.1", "[\"sigmoid\"]", "null").
  std::function<std::string(const TrainConfig&)> write;
};

const std::vector<ConfigKey>& config_keys();
const ConfigKey* find_config_key(const std::string& name);
std::vector<std::string> config_key_names();

// Markdown reference: one table per section (key, type, default, meaning); defaults are those
// of preference training, with SFT's differences noted.
std::string config_reference_markdown();

}  // namespace dpo
