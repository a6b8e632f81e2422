// The training recipe: every key of a `dpo train` / `dpo sft` YAML file, with TRL's names and
// defaults (DPOConfig / SFTConfig on top of transformers' TrainingArguments, TRL's ModelConfig for
// LoRA). The key table (name, type, default, help) lives in train/config_keys.h.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dpo {

// What a run trains, one per command (as TRL has one trainer each): preference training of the
// DPO family against a reference (dpo train), supervised fine-tuning (dpo sft), and the
// reference-free preference methods CPO / SimPO (dpo cpo) and ORPO (dpo orpo), and KTO on
// unpaired data (dpo kto). A few defaults and the keys that apply differ.
enum class TrainMode { kPreference, kSft, kCpo, kOrpo, kKto };

// "dpo train", "dpo sft", "dpo cpo", "dpo orpo", "dpo kto".
std::string train_mode_command(TrainMode mode);
// The TRL trainer a mode follows ("DPOTrainer", ...), for messages and docs.
std::string train_mode_trainer(TrainMode mode);
// Batches of two sequences per example, chosen and rejected (KTO: the example and its KL
// sequence): every mode but SFT.
inline bool is_pairwise_mode(TrainMode mode) {
  return mode != TrainMode::kSft;
}

struct TrainConfig {
  // --- model
  std::string model_name_or_path;       // HF model folder (required)
  std::string model_revision = "main";  // of a Hub id in the cache (TRL's name)
  std::string model_hub_id;  // not a key: the Hub id model_name_or_path came from ("": a path)
  std::optional<std::string> tokenizer_name_or_path;  // null: the model folder
  std::string chat_template = "auto";  // auto | llama-2 | zephyr | chatml | llama-3 | FILE
  std::string device = "auto";         // auto | cpu | cuda
  std::optional<bool> bf16;            // null: true on CUDA, false on CPU
  int64_t threads = 0;                 // 0: every core

  // --- data
  std::vector<std::string> dataset;  // files or directories (required)
  std::string dataset_format = "auto";
  std::vector<std::string> eval_dataset;
  double eval_split_ratio = 0.0;
  std::optional<int64_t> eval_max_samples;
  std::optional<int64_t> max_length = 1024;
  std::optional<int64_t> max_prompt_length;  // null: no prompt limit (TRL 1.16 has none)
  std::optional<int64_t> max_completion_length;
  std::string truncation_mode = "keep_start";  // keep_start | keep_end (TRL 1.16 default)
  bool drop_invalid_rows = false;
  bool hh_to_messages = false;       // hh rows -> messages -> the model's chat template
  bool completion_only_loss = true;  // sft: loss on completion tokens only

  // --- loss
  double beta = 0.1;
  std::vector<std::string> loss_type = {"sigmoid"};
  std::vector<double> loss_weights;  // empty: 1 for each loss_type
  double label_smoothing = 0.0;
  std::optional<double> rpo_alpha;
  bool reference_free = false;
  std::optional<double> ld_alpha;
  bool use_weighting = false;
  double discopop_tau = 0.05;
  std::string f_divergence_type =
      "reverse_kl";  // reverse_kl | forward_kl | js_divergence | alpha_divergence
  double f_alpha_divergence_coef = 0.5;
  double cpo_alpha = 1.0;           // dpo cpo (CPOConfig)
  double simpo_gamma = 0.5;         // dpo cpo, loss_type simpo
  double alpha = 0.0;               // dpo cpo: AlphaPO
  double desirable_weight = 1.0;    // dpo kto (KTOConfig)
  double undesirable_weight = 1.0;  // dpo kto
  bool precompute_ref_log_probs = false;
  std::string ref_cache_dir;  // "": $XDG_CACHE_HOME/dpo.cpp/ref_logps (or ~/.cache/...)

  // --- lora
  bool use_peft = true;  // false: full fine-tuning (saves a full HF model folder)
  // A PEFT LoRA adapter to train on from (e.g. DPO after an SFT LoRA); the reference is the model
  // as training starts (base + this adapter). Its adapter_config.json fixes the lora_* settings.
  // With use_peft false it is merged into the weights first.
  std::optional<std::string> adapter_name_or_path;
  int64_t lora_r = 16;
  int64_t lora_alpha = 32;
  double lora_dropout = 0.05;
  std::vector<std::string> lora_target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                  "gate_proj", "up_proj", "down_proj"};
  bool use_rslora = false;
  bool disable_dropout = true;

  // --- optimization
  double learning_rate = 1e-6;  // sft: 2e-5
  std::string lr_scheduler_type = "linear";
  double warmup_ratio = 0.0;
  double warmup_steps =
      0;  // >= 1: steps (whole); in (0, 1): a fraction of the run (transformers 5)
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  int64_t per_device_train_batch_size = 8;
  int64_t per_device_eval_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  double num_train_epochs = 3.0;
  int64_t max_steps = -1;  // > 0 overrides num_train_epochs
  bool gradient_checkpointing = false;
  bool padding_free = true;                        // packed micro-batches: no compute on padding
  bool prompt_sharing = true;                      // a pair's prompt computed once (padding_free)
  std::string train_sampling_strategy = "random";  // random | sequential (kto: sequential)
  int64_t seed = 42;
  int64_t max_nonfinite_steps = 5;  // stop after this many non-finite steps in a row
  int64_t ddp_timeout = 1800;       // data-parallel runs: seconds a rank waits for the others

  // --- logging and saving
  std::string output_dir = "trainer_output";
  double logging_steps = 10;  // int, or a fraction (< 1) of the run
  bool logging_first_step = false;
  std::optional<double> eval_steps;  // null: evaluate at the end only
  double save_steps = 500;           // int, or a fraction (< 1) of the run
  std::optional<int64_t> save_total_limit;
  std::optional<std::string> resume_from_checkpoint;  // PATH | latest
  std::vector<std::string> report_to = {"jsonl", "tensorboard"};
  std::vector<std::string> eval_prompts;
  int64_t generation_max_new_tokens = 64;
};

// Defaults for the mode (sft: learning_rate 2e-5 and loss_type [sft], as TRL's SFTConfig).
TrainConfig default_train_config(TrainMode mode);

// Loads a YAML file, applies `key=value` overrides in order, validates. UserError naming the
// file, line and key (and the closest known key for a misspelled one, or both lines of a key set
// twice). Relative paths in the file are relative to the file's folder; those of overrides to the
// current folder.
TrainConfig load_train_config(const std::filesystem::path& yaml_path,
                              const std::vector<std::string>& overrides, TrainMode mode);
// The same from YAML text (`source_name` appears in messages); relative paths in the text are
// taken relative to `base_dir` when it is not empty.
TrainConfig parse_train_config(const std::string& yaml_text, const std::string& source_name,
                               const std::vector<std::string>& overrides, TrainMode mode,
                               const std::filesystem::path& base_dir = {});

// Applies one `key=value` override (value in YAML syntax: 0.1, true, [sigmoid, sft]).
void apply_override(TrainConfig& config, const std::string& assignment);

// Range and consistency checks; UserError saying what is allowed.
void validate_train_config(const TrainConfig& config, const std::string& source_name);

// Every key with its resolved value, in table order, as YAML text; paths made absolute.
std::string train_config_to_yaml(const TrainConfig& config);

// Resolves int-or-fraction step settings: >= 1 as given, < 1 as ceil(fraction * total_steps).
int64_t resolve_steps(double setting, int64_t total_steps);

}  // namespace dpo
