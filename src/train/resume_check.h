// What a checkpoint fixes when a run resumes from it: the kind of weights (LoRA adapter or full
// model) and the adapter's shape. A config that asks for something else is refused, naming the
// key, instead of training with the checkpoint's value while config.yaml records the new one.
#pragma once
#include <filesystem>

#include "lora/lora_config.h"
#include "train/config.h"

namespace dpo {

// The run's LoRA settings as PEFT's LoraConfig (lora_target_modules: a list of names, or one
// regex).
LoraConfig lora_config_for(const TrainConfig& config);

// UserError naming the key when `config` differs from what `checkpoint` holds: use_peft (an
// adapter_config.json or a full model), lora_r, lora_alpha, use_rslora, lora_target_modules, and
// lora_dropout when dropout is on (disable_dropout: false).
void check_resume_settings(const TrainConfig& config, const std::filesystem::path& checkpoint);

}  // namespace dpo
