// The config key table. Each entry binds a TrainConfig member to its YAML name, type, allowed
// values and help text; reading and writing are generated from the member's C++ type.
#include "train/config_keys.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>

#include "util/error.h"
#include "util/strings.h"

namespace dpo {
namespace {

// ---- reading one value of each C++ type from a YAML node

struct ReadContext {
  const std::string& key;
  const std::string& type;
  const std::string& where;
};

std::string node_text(const YAML::Node& node) {
  if (node.IsScalar()) return node.Scalar();
  if (node.IsNull()) return "null";
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

[[noreturn]] void throw_wrong_type(const ReadContext& ctx, const YAML::Node& node) {
  throw_user_error("{}: {} must be {}, got '{}'", ctx.where, ctx.key, ctx.type, node_text(node));
}

const std::string& scalar_of(const YAML::Node& node, const ReadContext& ctx) {
  if (!node.IsScalar()) throw_wrong_type(ctx, node);
  return node.Scalar();
}

void read_value(const YAML::Node& node, const ReadContext& ctx, bool& out) {
  const std::string& text = scalar_of(node, ctx);
  if (text == "true" || text == "True" || text == "yes" || text == "on") {
    out = true;
  } else if (text == "false" || text == "False" || text == "no" || text == "off") {
    out = false;
  } else {
    throw_wrong_type(ctx, node);
  }
}

void read_value(const YAML::Node& node, const ReadContext& ctx, int64_t& out) {
  const std::string& text = scalar_of(node, ctx);
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  if (ec != std::errc() || ptr != end) throw_wrong_type(ctx, node);
}

void read_value(const YAML::Node& node, const ReadContext& ctx, double& out) {
  const std::string& text = scalar_of(node, ctx);
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(out))
    throw_wrong_type(ctx, node);
}

void read_value(const YAML::Node& node, const ReadContext& ctx, std::string& out) {
  if (node.IsNull()) throw_wrong_type(ctx, node);
  out = scalar_of(node, ctx);
}

// A list key also accepts one scalar: `loss_type: sigmoid` is `[sigmoid]`.
template <typename T>
void read_value(const YAML::Node& node, const ReadContext& ctx, std::vector<T>& out) {
  out.clear();
  if (node.IsNull()) return;
  if (node.IsScalar()) {
    out.emplace_back();
    read_value(node, ctx, out.back());
    return;
  }
  if (!node.IsSequence()) throw_wrong_type(ctx, node);
  for (const auto& item : node) {
    out.emplace_back();
    read_value(item, ctx, out.back());
  }
}

template <typename T>
void read_value(const YAML::Node& node, const ReadContext& ctx, std::optional<T>& out) {
  if (node.IsNull() || (node.IsScalar() && (node.Scalar() == "null" || node.Scalar() == "~"))) {
    out.reset();
    return;
  }
  T value{};
  read_value(node, ctx, value);
  out = value;
}

// ---- writing values as YAML flow text

std::string value_text(bool value) {
  return value ? "true" : "false";
}
std::string value_text(int64_t value) {
  return std::to_string(value);
}
std::string value_text(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15) return fmt::format("{:.1f}", value);
  return fmt::format("{}", value);
}
// JSON string syntax is valid YAML double-quoted syntax.
std::string value_text(const std::string& value) {
  return nlohmann::json(value).dump();
}
template <typename T>
std::string value_text(const std::vector<T>& values) {
  std::vector<std::string> parts;
  for (const auto& value : values) parts.push_back(value_text(value));
  return "[" + join(parts, ", ") + "]";
}
template <typename T>
std::string value_text(const std::optional<T>& value) {
  return value ? value_text(*value) : "null";
}

// ---- type names for messages and docs

template <typename T>
struct TypeName;
template <>
struct TypeName<bool> {
  static std::string get() { return "a bool (true or false)"; }
};
template <>
struct TypeName<int64_t> {
  static std::string get() { return "an integer"; }
};
template <>
struct TypeName<double> {
  static std::string get() { return "a number"; }
};
template <>
struct TypeName<std::string> {
  static std::string get() { return "a string"; }
};
template <typename T>
struct TypeName<std::vector<T>> {
  static std::string get() { return "a list of " + TypeName<T>::get().substr(2) + "s"; }
};
template <typename T>
struct TypeName<std::optional<T>> {
  static std::string get() { return TypeName<T>::get() + " or null"; }
};

// ---- choices

bool allowed_contains(const std::string& allowed, const std::string& value) {
  for (const auto& choice : split(allowed, '|'))
    if (choice == value) return true;
  return false;
}
void check_choice(const std::string& allowed, const std::string& value, const ReadContext& ctx) {
  if (allowed.empty() || allowed_contains(allowed, value)) return;
  std::string hint = closest_match(value, split(allowed, '|'));
  throw_user_error("{}: {} must be one of {}, got '{}'{}", ctx.where, ctx.key, allowed, value,
                   hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint));
}
template <typename T>
void check_choices(const std::string&, const T&, const ReadContext&) {}
void check_choices(const std::string& allowed, const std::string& value, const ReadContext& ctx) {
  check_choice(allowed, value, ctx);
}
void check_choices(const std::string& allowed, const std::vector<std::string>& values,
                   const ReadContext& ctx) {
  for (const auto& value : values) check_choice(allowed, value, ctx);
}

// ---- one table entry from a member pointer

template <typename T>
ConfigKey make_key(const char* name, const char* section, T TrainConfig::*member, const char* help,
                   const char* allowed = "", const char* type_override = "") {
  ConfigKey key;
  key.name = name;
  key.section = section;
  key.type = *type_override ? std::string(type_override) : TypeName<T>::get();
  key.allowed = allowed;
  key.help = help;
  std::string key_name = name, type = key.type, choices = allowed;
  key.read = [member, key_name, type, choices](TrainConfig& config, const YAML::Node& node,
                                               const std::string& where) {
    ReadContext ctx{key_name, type, where};
    T value{};
    read_value(node, ctx, value);
    check_choices(choices, value, ctx);
    config.*member = value;
  };
  key.write = [member](const TrainConfig& config) { return value_text(config.*member); };
  return key;
}

constexpr const char* kLossTypes =
    "sigmoid|hinge|ipo|robust|exo_pair|nca_pair|bco_pair|sppo_hard|aot|aot_unpaired|apo_zero|"
    "apo_down|discopop|sft|sigmoid_norm|simpo|kto|apo_zero_unpaired";
constexpr const char* kIntOrFraction = "an integer, or a fraction (< 1) of the run";

std::vector<ConfigKey> build_table() {
  using C = TrainConfig;
  const char* M = "model";
  const char* D = "data";
  const char* L = "loss";
  const char* P = "lora";
  const char* O = "optimization";
  const char* S = "logging and saving";
  return {
      make_key("model_name_or_path", M, &C::model_name_or_path,
               "Hugging Face model folder (config.json, safetensors, tokenizer files), or a Hub "
               "id ORG/NAME read from the local Hugging Face cache (offline; a local path wins)."),
      make_key("model_revision", M, &C::model_revision,
               "A Hub id's revision in the cache (model_name_or_path, tokenizer_name_or_path): a "
               "branch or tag (refs/) or a commit hash; unused for local folders."),
      make_key("tokenizer_name_or_path", M, &C::tokenizer_name_or_path,
               "Folder with the tokenizer files, or a Hub id; null: the model folder."),
      make_key("chat_template", M, &C::chat_template,
               "auto (the tokenizer's), a built-in name (llama-2, zephyr, chatml, llama-3) or a "
               "Jinja file."),
      make_key("device", M, &C::device, "Where to train; auto picks cuda when available.",
               "auto|cpu|cuda"),
      make_key("bf16", M, &C::bf16,
               "bf16 base weights; null: true on CUDA, false on CPU (LoRA weights, optimizer "
               "state and the loss stay fp32)."),
      make_key("threads", M, &C::threads,
               "CPU threads for libtorch; 0: every core (data-parallel: the cores / "
               "LOCAL_WORLD_SIZE per rank)."),

      make_key("dataset", D, &C::dataset,
               "Training data: a file (.jsonl, .json, .gz) or directory, a Hub dataset id "
               "ORG/NAME[:SPLIT] in the local cache (default split train), or a list of them."),
      make_key("dataset_format", D, &C::dataset_format,
               "Row format; auto detects it (and prints what it found). unpaired: dpo kto's "
               "prompt/completion/label rows.",
               "auto|standard|conversational|implicit|hh|pretokenized|prompt_completion|messages|"
               "text|unpaired"),
      make_key("eval_dataset", D, &C::eval_dataset,
               "Evaluation data (file, Hub dataset id such as ORG/NAME:test, or list)."),
      make_key("eval_split_ratio", D, &C::eval_split_ratio,
               "Without eval_dataset: this fraction of the training rows (seeded) is held out."),
      make_key("eval_max_samples", D, &C::eval_max_samples,
               "Evaluate on at most this many rows; null: all."),
      make_key("max_length", D, &C::max_length, "Maximum prompt + completion tokens; null: none."),
      make_key("max_prompt_length", D, &C::max_prompt_length,
               "Maximum prompt tokens (the end of the prompt is kept); null: none. dpo.cpp's own "
               "(TRL 1.16 dropped it)."),
      make_key("max_completion_length", D, &C::max_completion_length,
               "Maximum completion tokens; null: none."),
      make_key("truncation_mode", D, &C::truncation_mode,
               "Which end of a too-long sequence survives max_length: keep_start (TRL 1.16's "
               "default) cuts completions at their end and drops a row whose prompt alone fills "
               "max_length; keep_end keeps each sequence's last tokens.",
               "keep_start|keep_end"),
      make_key("drop_invalid_rows", D, &C::drop_invalid_rows,
               "Skip and count bad rows instead of stopping with an error."),
      make_key("hh_to_messages", D, &C::hh_to_messages,
               "hh rows: turn the Human/Assistant turns into messages and apply the chat "
               "template."),
      make_key("completion_only_loss", D, &C::completion_only_loss,
               "sft: loss on completion tokens only; false: on every token."),

      make_key("beta", L, &C::beta, "Strength of the KL penalty towards the reference (> 0)."),
      make_key("loss_type", L, &C::loss_type,
               "dpo train: one or more losses, summed with loss_weights; dpo cpo: one of "
               "sigmoid, hinge, ipo, simpo (SimPO); dpo kto: kto or apo_zero_unpaired; not "
               "used by dpo orpo.",
               kLossTypes),
      make_key("loss_weights", L, &C::loss_weights, "One weight per loss_type; empty: 1 for each."),
      make_key("label_smoothing", L, &C::label_smoothing,
               "robust: the probability that a label is flipped, in [0, 0.5); exo_pair: its "
               "epsilon (> 0); aot, aot_unpaired: smoothing. Not used by sigmoid (as TRL 1.16)."),
      make_key("rpo_alpha", L, &C::rpo_alpha, "Weight of the NLL loss on chosen (RPO); null: off."),
      make_key("reference_free", L, &C::reference_free,
               "Ignore the reference model (reference log-probs 0)."),
      make_key("ld_alpha", L, &C::ld_alpha,
               "LD-DPO: weight of the verbose part of longer completions; null: off."),
      make_key("use_weighting", L, &C::use_weighting, "WPO weighting of the loss."),
      make_key("discopop_tau", L, &C::discopop_tau, "Temperature of the discopop loss."),
      make_key("f_divergence_type", L, &C::f_divergence_type,
               "f-DPO: the divergence regularizing the policy towards the reference (scores "
               "f'(pi/ref)); sigmoid, sigmoid_norm, hinge, ipo, exo_pair, robust, discopop and sft "
               "only.",
               "reverse_kl|forward_kl|js_divergence|alpha_divergence"),
      make_key("f_alpha_divergence_coef", L, &C::f_alpha_divergence_coef,
               "alpha of f_divergence_type alpha_divergence (1: reverse_kl)."),
      make_key("cpo_alpha", L, &C::cpo_alpha,
               "dpo cpo: weight of the NLL term on the chosen completions (0: SimPO's pure "
               "preference loss)."),
      make_key("simpo_gamma", L, &C::simpo_gamma,
               "dpo cpo with loss_type simpo: the target reward margin (>= 0)."),
      make_key("alpha", L, &C::alpha,
               "dpo cpo: AlphaPO's reward shape, rewards (1 - p^-alpha) / alpha; 0: log-prob "
               "rewards."),
      make_key("desirable_weight", L, &C::desirable_weight,
               "dpo kto: weight of the desirable (label true) examples' loss."),
      make_key("undesirable_weight", L, &C::undesirable_weight,
               "dpo kto: weight of the undesirable (label false) examples' loss."),
      make_key("precompute_ref_log_probs", L, &C::precompute_ref_log_probs,
               "One reference pass before training, cached on disk and reused by later runs."),
      make_key("ref_cache_dir", L, &C::ref_cache_dir,
               "Where precomputed reference log-probs are cached; \"\": "
               "$XDG_CACHE_HOME/dpo.cpp/ref_logps."),

      make_key("use_peft", P, &C::use_peft,
               "Train a LoRA adapter; false: full fine-tuning (saves a full HF model folder)."),
      make_key(
          "adapter_name_or_path", P, &C::adapter_name_or_path,
          "PEFT LoRA adapter folder (or Hub id) to train on from (e.g. DPO after an SFT LoRA); the "
          "reference is base + this adapter, frozen; its adapter_config.json sets the LoRA "
          "settings; with use_peft: false it is merged first. null: a fresh adapter."),
      make_key("lora_r", P, &C::lora_r, "LoRA rank (>= 1)."),
      make_key("lora_alpha", P, &C::lora_alpha, "LoRA scaling numerator (alpha / r)."),
      make_key("lora_dropout", P, &C::lora_dropout,
               "Dropout on the LoRA input, in [0, 1) (off while disable_dropout)."),
      make_key("lora_target_modules", P, &C::lora_target_modules,
               "Module names to adapt, all-linear, or one regex. On phi3, q/k/v_proj all listed "
               "mean its fused qkv_proj, gate/up_proj both listed its gate_up_proj."),
      make_key("use_rslora", P, &C::use_rslora, "Scale by alpha / sqrt(r) instead of alpha / r."),
      make_key("disable_dropout", P, &C::disable_dropout,
               "Turn every dropout off (TRL's default) so policy and reference are deterministic."),

      make_key("learning_rate", O, &C::learning_rate, "Peak AdamW learning rate (> 0)."),
      make_key("lr_scheduler_type", O, &C::lr_scheduler_type, "Learning-rate schedule.",
               "linear|constant|cosine|constant_with_warmup"),
      make_key("warmup_ratio", O, &C::warmup_ratio,
               "Warmup as a fraction of the run, in [0, 1] (transformers 4; transformers 5 takes "
               "warmup_steps below 1 instead)."),
      make_key("warmup_steps", O, &C::warmup_steps,
               "Warmup steps (a whole number >= 1), or below 1 a fraction of the run, as "
               "transformers 5; overrides warmup_ratio if > 0."),
      make_key("weight_decay", O, &C::weight_decay,
               "AdamW decoupled weight decay (never on biases and norms)."),
      make_key("adam_beta1", O, &C::adam_beta1, "AdamW beta1, in [0, 1)."),
      make_key("adam_beta2", O, &C::adam_beta2, "AdamW beta2, in [0, 1)."),
      make_key("adam_epsilon", O, &C::adam_epsilon, "AdamW epsilon (> 0)."),
      make_key("max_grad_norm", O, &C::max_grad_norm,
               "Clip the total gradient norm to this; 0: no clipping."),
      make_key("per_device_train_batch_size", O, &C::per_device_train_batch_size,
               "Pairs (or SFT rows) per micro-batch."),
      make_key("per_device_eval_batch_size", O, &C::per_device_eval_batch_size,
               "Pairs (or SFT rows) per evaluation batch."),
      make_key("gradient_accumulation_steps", O, &C::gradient_accumulation_steps,
               "Micro-batches per optimizer step."),
      make_key("num_train_epochs", O, &C::num_train_epochs,
               "Epochs to train (fractional allowed, e.g. 0.1)."),
      make_key("max_steps", O, &C::max_steps, "Optimizer steps; > 0 overrides num_train_epochs."),
      make_key("gradient_checkpointing", O, &C::gradient_checkpointing,
               "Recompute activations in the backward pass to save memory."),
      make_key("train_sampling_strategy", O, &C::train_sampling_strategy,
               "Order of the training examples: random (reshuffled every epoch, as transformers' "
               "Trainer) or sequential (dataset order; dpo kto's default, which its KL estimate "
               "needs).",
               "random|sequential"),
      make_key("padding_free", O, &C::padding_free,
               "Pack the sequences of a micro-batch together (positions restarting per "
               "sequence) instead of padding each to the longest: the same numbers, less "
               "compute. With variable-length attention (the flash kernel on CUDA, and the CPU) "
               "one row holds the micro-batch and nothing is padding; otherwise rows as wide as "
               "its longest sequence, with segment masks. On by default (TRL: off)."),
      make_key(
          "prompt_sharing", O, &C::prompt_sharing,
          "With padding_free: lay out each preference pair as [prompt | chosen | "
          "rejected], the prompt computed once and both completions attending to it (the "
          "rejected one's positions continuing from the prompt): the same numbers up to "
          "float32 reordering, fewer token positions the longer the prompts are. TRL has no "
          "such option; dpo sft leaves it unused, dpo kto (unpaired examples) refuses it. On by "
          "default."),
      make_key("seed", O, &C::seed, "Seed of initialization, shuffling, dropout and sampling."),
      make_key("max_nonfinite_steps", O, &C::max_nonfinite_steps,
               "Non-finite loss or gradients: steps skipped in a row before the run stops."),
      make_key("ddp_timeout", O, &C::ddp_timeout,
               "Data-parallel runs (torchrun, --nproc): seconds a rank waits for the others "
               "(rendezvous, every collective) before it stops with an error."),

      make_key("output_dir", S, &C::output_dir,
               "The run folder; never the model or tokenizer folder, nor a folder inside or "
               "around them."),
      make_key("logging_steps", S, &C::logging_steps, "Log metrics averaged over this many steps.",
               "", kIntOrFraction),
      make_key("logging_first_step", S, &C::logging_first_step, "Also log the first step."),
      make_key("eval_steps", S, &C::eval_steps,
               "Evaluate every this many steps; null: at the end only.", "",
               "an integer, or a fraction (< 1) of the run, or null"),
      make_key("save_steps", S, &C::save_steps, "Write checkpoint-N/ every this many steps.", "",
               kIntOrFraction),
      make_key("save_total_limit", S, &C::save_total_limit,
               "Keep at most this many checkpoints (the oldest go); null: all."),
      make_key("resume_from_checkpoint", S, &C::resume_from_checkpoint,
               "A checkpoint folder, or latest (the newest in output_dir), to continue from."),
      make_key("report_to", S, &C::report_to, "Metric sinks.", "jsonl|tensorboard|none"),
      make_key("eval_prompts", S, &C::eval_prompts,
               "Prompts answered (greedy, chat template) before and after training, into "
               "generations.jsonl."),
      make_key("generation_max_new_tokens", S, &C::generation_max_new_tokens,
               "New tokens per eval_prompts answer."),
  };
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> table = build_table();
  return table;
}

const ConfigKey* find_config_key(const std::string& name) {
  for (const auto& key : config_keys())
    if (key.name == name) return &key;
  return nullptr;
}

std::vector<std::string> config_key_names() {
  std::vector<std::string> names;
  for (const auto& key : config_keys()) names.push_back(key.name);
  return names;
}

std::string config_reference_markdown() {
  const TrainConfig dpo_defaults = default_train_config(TrainMode::kPreference);
  const TrainConfig sft_defaults = default_train_config(TrainMode::kSft);
  const TrainConfig kto_defaults = default_train_config(TrainMode::kKto);
  std::string out =
      "## Configuration reference\n\n"
      "`dpo train CONFIG.yaml [key=value ...]`, `dpo sft`, `dpo cpo`, `dpo orpo` and `dpo kto` "
      "read one "
      "YAML file of the keys below (TRL's names and defaults; a key of another method, such as "
      "`cpo_alpha` under `dpo train`, is refused); `key=value` arguments override it "
      "(`loss_type=[sigmoid,sft]`, `beta=0.2`). An unknown key is an error that names the closest "
      "known one; a key set twice in the file is an error too. Paths in the file are relative to "
      "the "
      "file's folder (so a recipe runs from any folder), paths in `key=value` arguments to the "
      "current folder. The resolved config, every default written out and every path absolute, is "
      "saved as `output_dir/config.yaml`.\n";
  std::string section;
  for (const auto& key : config_keys()) {
    if (key.section != section) {
      section = key.section;
      out += fmt::format("\n### {}\n\n| key | type | default | meaning |\n|---|---|---|---|\n",
                         section);
    }
    std::string defaults = key.write(dpo_defaults);
    std::string sft = key.write(sft_defaults);
    if (sft != defaults) defaults += fmt::format(" (sft: {})", sft);
    std::string kto = key.write(kto_defaults);
    if (kto != key.write(dpo_defaults)) defaults += fmt::format(" (kto: {})", kto);
    std::string meaning = key.help;
    if (!key.allowed.empty()) meaning += " One of: " + join(split(key.allowed, '|'), ", ") + ".";
    std::string type = key.type;
    if (starts_with(type, "a ")) type = type.substr(2);
    if (starts_with(type, "an ")) type = type.substr(3);
    out += fmt::format("| `{}` | {} | `{}` | {} |\n", key.name, type, defaults, meaning);
  }
  return out;
}

}  // namespace dpo
