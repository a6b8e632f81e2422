// Loading, overriding, validating and writing a TrainConfig.
#include "train/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "chat/chat_template.h"
#include "io/hub_cache.h"
#include "train/config_keys.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/output_guard.h"
#include "util/strings.h"

namespace dpo {
namespace {

// Where each key got its value ("recipe.yaml line 4", "override 'beta=0'"), for messages.
using Origins = std::map<std::string, std::string>;

const ConfigKey& known_key_or_throw(const std::string& name, const std::string& where) {
  if (const ConfigKey* key = find_config_key(name)) return *key;
  std::string hint = closest_match(name, config_key_names());
  throw_user_error("{}: unknown key '{}'{}", where, name,
                   hint.empty() ? " (see the configuration reference in README.md)"
                                : fmt::format(" (did you mean '{}'?)", hint));
}

std::string line_of(const std::string& source, const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.line < 0) return source;
  return fmt::format("{} line {}", source, mark.line + 1);
}

YAML::Node load_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw_user_error("{} line {}: invalid YAML: {}", source, e.mark.line + 1, e.msg);
  }
}

// Applies `f(key, path)` to every path a config holds (chat_template only when it names a file,
// resume_from_checkpoint unless "latest"), restricted to the keys in `only` when given.
using PathFn = std::function<void(const std::string& key, std::string& path)>;
void for_each_path(TrainConfig& c, const PathFn& f, const std::set<std::string>* only = nullptr) {
  auto apply = [&](const char* key, std::string& path) {
    if (!only || only->count(key) > 0) f(key, path);
  };
  apply("model_name_or_path", c.model_name_or_path);
  if (c.tokenizer_name_or_path) apply("tokenizer_name_or_path", *c.tokenizer_name_or_path);
  if (c.adapter_name_or_path) apply("adapter_name_or_path", *c.adapter_name_or_path);
  for (std::string& spec : c.dataset) apply("dataset", spec);
  for (std::string& spec : c.eval_dataset) apply("eval_dataset", spec);
  apply("output_dir", c.output_dir);
  if (c.chat_template != "auto" && !is_builtin_chat_template(c.chat_template))
    apply("chat_template", c.chat_template);
  if (!c.ref_cache_dir.empty()) apply("ref_cache_dir", c.ref_cache_dir);
  if (c.resume_from_checkpoint && *c.resume_from_checkpoint != "latest")
    apply("resume_from_checkpoint", *c.resume_from_checkpoint);
}

bool is_dataset_key(const std::string& key) {
  return key == "dataset" || key == "eval_dataset";
}

// A value of a key that takes a Hugging Face Hub id and reads as one (ORG/NAME; a dataset's may
// end in :SPLIT). It stays an id unless a path of that name exists (io/hub_cache.h).
bool reads_as_hub_id(const std::string& key, const std::string& value) {
  if (is_dataset_key(key)) return is_hub_dataset_spec(value);
  return (key == "model_name_or_path" || key == "tokenizer_name_or_path" ||
          key == "adapter_name_or_path") &&
         is_hub_repo_id(value);
}

void apply_yaml_document(TrainConfig& config, const std::string& text, const std::string& source,
                         const fs::path& base_dir, Origins& origins) {
  YAML::Node root = load_yaml(text, source);
  if (root.IsNull()) return;  // an empty file: every default
  if (!root.IsMap())
    throw_user_error("{}: expected a mapping of config keys (key: value lines)", source);
  std::map<std::string, std::string> seen;  // key -> where this document set it
  for (const auto& item : root) {
    std::string where = line_of(source, item.first);
    const ConfigKey& key = known_key_or_throw(item.first.as<std::string>(), where);
    if (auto it = seen.find(key.name); it != seen.end())
      throw_user_error("{}: key '{}' is set twice (also at {}); keep one", where, key.name,
                       it->second);
    seen[key.name] = where;
    key.read(config, item.second, where);
    origins[key.name] = where;
  }
  // Paths in a config file are relative to the file (as most tools read them), so that a recipe
  // works from any current folder; `key=value` overrides stay relative to the current folder.
  if (base_dir.empty()) return;
  std::set<std::string> from_file;
  for (const auto& [name, where] : seen) from_file.insert(name);
  for_each_path(
      config,
      [&](const std::string& key, std::string& path) {
        if (path.empty() || !fs::path(path).is_relative()) return;
        const std::string next_to_file = (base_dir / path).lexically_normal().string();
        if (!is_local_dataset_spec(next_to_file) && reads_as_hub_id(key, path)) return;
        path = next_to_file;
      },
      &from_file);
}

void apply_override_recording(TrainConfig& config, const std::string& assignment,
                              Origins& origins) {
  std::string where = fmt::format("override '{}'", assignment);
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw_user_error("{}: expected key=value (for example beta=0.2)", where);
  std::string name = trim(assignment.substr(0, eq));
  const ConfigKey& key = known_key_or_throw(name, where);
  std::string value = assignment.substr(eq + 1);
  YAML::Node node;
  try {
    node = YAML::Load(value);
  } catch (const YAML::ParserException& e) {
    throw_user_error("{}: invalid value: {}", where, e.msg);
  }
  // `key=` sets an empty string (or empty list), not null.
  if (trim(value).empty()) node = YAML::Node(std::string());
  key.read(config, node, where);
  origins[key.name] = where;
}

// ---- validation

struct Checker {
  const Origins& origins;
  const std::string& source;

  std::string where(const std::string& key) const {
    auto it = origins.find(key);
    return it != origins.end() ? it->second : source;
  }
  template <typename T>
  void require(bool ok, const std::string& key, const T& value, const std::string& allowed) const {
    if (!ok) throw_user_error("{}: {} must be {} (got {})", where(key), key, allowed, value);
  }
};

// Hub ids of the model and data keys, looked up in the local Hugging Face cache: a model key
// becomes its snapshot folder, a dataset entry the data files of its split (io/hub_cache.h).
void resolve_hub_ids(TrainConfig& c, const Origins& origins, const std::string& source) {
  const Checker check{origins, source};
  std::vector<std::string> dataset, eval_dataset;
  for_each_path(c, [&](const std::string& key, std::string& path) {
    const std::string where = check.where(key) + ": " + key;
    if (is_dataset_key(key)) {
      for (std::string& file : resolve_hub_dataset(path, where))
        (key == "dataset" ? dataset : eval_dataset).push_back(std::move(file));
      return;
    }
    if (!reads_as_hub_id(key, path) || fs::exists(path)) return;
    if (key == "model_name_or_path") c.model_hub_id = path;
    path =
        resolve_hub_model(path, where, key == "adapter_name_or_path" ? "main" : c.model_revision);
  });
  c.dataset = std::move(dataset);
  c.eval_dataset = std::move(eval_dataset);
}

void validate(const TrainConfig& c, const Origins& origins, const std::string& source) {
  Checker check{origins, source};
  if (c.model_name_or_path.empty())
    throw_user_error("{}: model_name_or_path is required (a Hugging Face model folder)",
                     check.where("model_name_or_path"));
  if (c.dataset.empty())
    throw_user_error("{}: dataset is required (a data file, a directory, or a list of them)",
                     check.where("dataset"));
  if (c.output_dir.empty())
    throw_user_error("{}: output_dir must not be empty", check.where("output_dir"));
  check_output_apart(
      c.output_dir, check.where("output_dir") + ": output_dir",
      {{c.model_name_or_path, "model", "model_name_or_path"},
       {c.tokenizer_name_or_path.value_or(""), "tokenizer", "tokenizer_name_or_path"},
       {c.adapter_name_or_path.value_or(""), "adapter", "adapter_name_or_path"}},
      "choose an output_dir apart from it (a run writes weights and checkpoints there)");
  check.require(c.threads >= 0, "threads", c.threads, ">= 0 (0: every core)");
  check.require(c.eval_split_ratio >= 0 && c.eval_split_ratio < 1, "eval_split_ratio",
                c.eval_split_ratio, "in [0, 1)");
  if (c.eval_max_samples)
    check.require(*c.eval_max_samples >= 1, "eval_max_samples", *c.eval_max_samples,
                  ">= 1 or null");
  for (const auto& [name, value] :
       {std::pair{"max_length", c.max_length}, std::pair{"max_prompt_length", c.max_prompt_length},
        std::pair{"max_completion_length", c.max_completion_length}})
    if (value) check.require(*value >= 1, name, *value, ">= 1 or null");

  check.require(c.beta > 0, "beta", c.beta, "> 0");
  if (!c.loss_weights.empty() && c.loss_weights.size() != c.loss_type.size())
    throw_user_error(
        "{}: loss_weights has {} values but loss_type has {}; give one weight per "
        "loss type (or none)",
        check.where("loss_weights"), c.loss_weights.size(), c.loss_type.size());
  check.require(!c.loss_type.empty(), "loss_type", "[]", "a non-empty list");
  check.require(c.label_smoothing >= 0 && c.label_smoothing < 0.5, "label_smoothing",
                c.label_smoothing, "in [0, 0.5)");
  if (c.rpo_alpha) check.require(*c.rpo_alpha >= 0, "rpo_alpha", *c.rpo_alpha, ">= 0 or null");
  if (c.ld_alpha)
    check.require(*c.ld_alpha >= 0 && *c.ld_alpha <= 1, "ld_alpha", *c.ld_alpha,
                  "in [0, 1] or null");
  check.require(c.discopop_tau > 0, "discopop_tau", c.discopop_tau, "> 0");
  check.require(c.simpo_gamma >= 0, "simpo_gamma", c.simpo_gamma, ">= 0");
  check.require(c.desirable_weight >= 0, "desirable_weight", c.desirable_weight, ">= 0");
  check.require(c.undesirable_weight >= 0, "undesirable_weight", c.undesirable_weight, ">= 0");

  check.require(c.lora_r >= 1, "lora_r", c.lora_r, ">= 1");
  check.require(c.lora_alpha > 0, "lora_alpha", c.lora_alpha, "> 0");
  check.require(c.lora_dropout >= 0 && c.lora_dropout < 1, "lora_dropout", c.lora_dropout,
                "in [0, 1)");
  check.require(!c.lora_target_modules.empty(), "lora_target_modules", "[]",
                "a non-empty list (module names, all-linear, or a regex)");

  check.require(c.learning_rate > 0, "learning_rate", c.learning_rate, "> 0");
  check.require(c.warmup_ratio >= 0 && c.warmup_ratio <= 1, "warmup_ratio", c.warmup_ratio,
                "in [0, 1]");
  check.require(
      c.warmup_steps >= 0 && (c.warmup_steps < 1 || c.warmup_steps == std::floor(c.warmup_steps)),
      "warmup_steps", c.warmup_steps,
      "a whole number of steps, or a fraction of the run in [0, 1)");
  check.require(c.weight_decay >= 0, "weight_decay", c.weight_decay, ">= 0");
  check.require(c.adam_beta1 >= 0 && c.adam_beta1 < 1, "adam_beta1", c.adam_beta1, "in [0, 1)");
  check.require(c.adam_beta2 >= 0 && c.adam_beta2 < 1, "adam_beta2", c.adam_beta2, "in [0, 1)");
  check.require(c.adam_epsilon > 0, "adam_epsilon", c.adam_epsilon, "> 0");
  check.require(c.max_grad_norm >= 0, "max_grad_norm", c.max_grad_norm, ">= 0 (0: no clipping)");
  check.require(c.per_device_train_batch_size >= 1, "per_device_train_batch_size",
                c.per_device_train_batch_size, ">= 1");
  check.require(c.per_device_eval_batch_size >= 1, "per_device_eval_batch_size",
                c.per_device_eval_batch_size, ">= 1");
  check.require(c.gradient_accumulation_steps >= 1, "gradient_accumulation_steps",
                c.gradient_accumulation_steps, ">= 1");
  if (c.max_steps <= 0)
    check.require(c.num_train_epochs > 0, "num_train_epochs", c.num_train_epochs,
                  "> 0 (or set max_steps)");
  check.require(c.max_steps == -1 || c.max_steps >= 1, "max_steps", c.max_steps,
                ">= 1, or -1 to train num_train_epochs");
  check.require(c.max_nonfinite_steps >= 1, "max_nonfinite_steps", c.max_nonfinite_steps, ">= 1");
  check.require(c.ddp_timeout >= 1, "ddp_timeout", c.ddp_timeout, ">= 1 (seconds)");

  check.require(c.logging_steps > 0, "logging_steps", c.logging_steps,
                "> 0 (an integer, or a fraction < 1 of the run)");
  if (c.eval_steps)
    check.require(*c.eval_steps > 0, "eval_steps", *c.eval_steps,
                  "> 0 (an integer, a fraction < 1 of the run) or null");
  check.require(c.save_steps > 0, "save_steps", c.save_steps,
                "> 0 (an integer, or a fraction < 1 of the run)");
  for (const auto& [name, value] :
       {std::pair{"logging_steps", c.logging_steps}, std::pair{"save_steps", c.save_steps},
        std::pair{"eval_steps", c.eval_steps.value_or(1.0)}})
    check.require(value < 1 || value == std::floor(value), name, value,
                  "an integer, or a fraction < 1 of the run");
  if (c.save_total_limit)
    check.require(*c.save_total_limit >= 1, "save_total_limit", *c.save_total_limit,
                  ">= 1 or null");
  check.require(c.generation_max_new_tokens >= 1, "generation_max_new_tokens",
                c.generation_max_new_tokens, ">= 1");
}

// Keys that mean something to some commands only: set (in the file or an override) to anything
// but the default for another command, they are an error rather than silently unused.
struct ModeKeys {
  std::vector<const char*> names;
  std::vector<TrainMode> modes;  // the commands that read them
  const char* why;
};

const std::vector<ModeKeys>& mode_keys() {
  using M = TrainMode;
  static const std::vector<ModeKeys> table = {
      {{"reference_free", "rpo_alpha", "ld_alpha", "use_weighting", "loss_weights", "discopop_tau",
        "f_divergence_type", "f_alpha_divergence_coef"},
       {M::kPreference, M::kSft},
       "a DPO loss key (TRL's DPOConfig)"},
      {{"precompute_ref_log_probs", "ref_cache_dir"},
       {M::kPreference, M::kSft, M::kKto},
       "a reference-model key (CPO and ORPO have no reference model)"},
      {{"cpo_alpha", "simpo_gamma", "alpha"}, {M::kCpo}, "a CPO key (TRL's CPOConfig)"},
      {{"desirable_weight", "undesirable_weight"}, {M::kKto}, "a KTO key (TRL's KTOConfig)"},
      {{"label_smoothing"},
       {M::kPreference, M::kSft, M::kCpo},
       "not a key of TRL's ORPOConfig or KTOConfig"},
      {{"loss_type"},
       {M::kPreference, M::kSft, M::kCpo, M::kKto},
       "not an ORPO key (TRL's ORPOConfig has one loss)"},
      {{"max_prompt_length", "max_completion_length", "truncation_mode"},
       {M::kPreference, M::kSft, M::kCpo, M::kOrpo},
       "not a KTO key (TRL's KTOConfig cuts prompt + completion to max_length, keeping the start)"},
      {{"prompt_sharing"},
       {M::kPreference, M::kSft, M::kCpo, M::kOrpo},
       "a preference-pair layout key (dpo kto's examples are unpaired)"},
  };
  return table;
}

// A key of another command that is set to something other than this command's default (a
// resolved config.yaml, which lists every key at its default, reads back unchanged).
void check_mode_keys(const TrainConfig& config, const Origins& origins, TrainMode mode) {
  const TrainConfig defaults = default_train_config(mode);
  for (const ModeKeys& group : mode_keys()) {
    if (std::find(group.modes.begin(), group.modes.end(), mode) != group.modes.end()) continue;
    for (const char* name : group.names) {
      auto it = origins.find(name);
      if (it == origins.end()) continue;
      const ConfigKey* key = find_config_key(name);
      if (key && key->write(config) == key->write(defaults)) continue;
      std::vector<std::string> commands;
      for (TrainMode m : group.modes)
        if (m != TrainMode::kSft) commands.push_back(train_mode_command(m));
      throw_user_error("{}: {} is {}: {} does not read it (it is read by {}); remove it",
                       it->second, name, group.why, train_mode_command(mode), join(commands, ", "));
    }
  }
}

// Rules of one command that tie several keys together (TRL's KTOTrainer checks).
void check_mode_rules(const TrainConfig& c, const Origins& origins, TrainMode mode) {
  if (mode != TrainMode::kKto || c.loss_type != std::vector<std::string>{"kto"}) return;
  auto where = [&](const char* key) {
    auto it = origins.find(key);
    return it == origins.end() ? std::string(key) : it->second + ": " + key;
  };
  if (c.per_device_train_batch_size <= 1)
    throw_user_error(
        "{}: KTO's KL estimate pairs each example's prompt with another completion of its batch, "
        "so a batch needs at least 2 examples (got {}); with batches of one use loss_type "
        "apo_zero_unpaired, which has no KL term",
        where("per_device_train_batch_size"), c.per_device_train_batch_size);
  if (c.train_sampling_strategy != "sequential")
    throw_user_error(
        "{}: loss_type kto estimates its KL term from completions paired with their batch "
        "neighbours in dataset order, so it needs sequential sampling (as TRL's KTOTrainer), got "
        "{}",
        where("train_sampling_strategy"), c.train_sampling_strategy);
}

}  // namespace

std::string train_mode_command(TrainMode mode) {
  switch (mode) {
    case TrainMode::kPreference:
      return "dpo train";
    case TrainMode::kSft:
      return "dpo sft";
    case TrainMode::kCpo:
      return "dpo cpo";
    case TrainMode::kOrpo:
      return "dpo orpo";
    case TrainMode::kKto:
      return "dpo kto";
  }
  return "dpo";
}

std::string train_mode_trainer(TrainMode mode) {
  switch (mode) {
    case TrainMode::kPreference:
      return "DPOTrainer";
    case TrainMode::kSft:
      return "SFTTrainer";
    case TrainMode::kCpo:
      return "CPOTrainer";
    case TrainMode::kOrpo:
      return "ORPOTrainer";
    case TrainMode::kKto:
      return "KTOTrainer";
  }
  return "";
}

TrainConfig default_train_config(TrainMode mode) {
  TrainConfig config;
  if (mode == TrainMode::kSft) {
    config.learning_rate = 2e-5;  // TRL SFTConfig
    config.loss_type = {"sft"};
  }
  if (mode == TrainMode::kKto) {  // TRL KTOConfig
    config.loss_type = {"kto"};
    config.train_sampling_strategy = "sequential";
  }
  return config;
}

TrainConfig parse_train_config(const std::string& yaml_text, const std::string& source_name,
                               const std::vector<std::string>& overrides, TrainMode mode,
                               const std::filesystem::path& base_dir) {
  TrainConfig config = default_train_config(mode);
  Origins origins;
  apply_yaml_document(config, yaml_text, source_name, base_dir, origins);
  for (const auto& assignment : overrides) apply_override_recording(config, assignment, origins);
  check_mode_keys(config, origins, mode);
  resolve_hub_ids(config, origins, source_name);
  validate(config, origins, source_name);
  check_mode_rules(config, origins, mode);
  return config;
}

TrainConfig load_train_config(const std::filesystem::path& yaml_path,
                              const std::vector<std::string>& overrides, TrainMode mode) {
  if (!fs::exists(yaml_path)) throw_user_error("{}: config file not found", yaml_path.string());
  return parse_train_config(read_file(yaml_path), yaml_path.string(), overrides, mode,
                            yaml_path.parent_path());
}

void apply_override(TrainConfig& config, const std::string& assignment) {
  Origins origins;
  apply_override_recording(config, assignment, origins);
}

void validate_train_config(const TrainConfig& config, const std::string& source_name) {
  validate(config, Origins{}, source_name);
}

std::string train_config_to_yaml(const TrainConfig& resolved) {
  // Absolute paths: the file describes the run wherever it is read from.
  TrainConfig config = resolved;
  for_each_path(config, [](const std::string&, std::string& path) {
    if (!path.empty()) path = fs::absolute(path).lexically_normal().string();
  });
  std::string out = "# Resolved by dpo.cpp: every key with the value this run used.\n";
  std::string section;
  for (const auto& key : config_keys()) {
    if (key.section != section) {
      section = key.section;
      out += fmt::format("\n# --- {}\n", section);
    }
    out += fmt::format("{}: {}\n", key.name, key.write(config));
  }
  return out;
}

int64_t resolve_steps(double setting, int64_t total_steps) {
  if (setting >= 1) return static_cast<int64_t>(setting);
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(setting * total_steps)));
}

}  // namespace dpo
