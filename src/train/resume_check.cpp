#include "train/resume_check.h"

#include <fmt/format.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace dpo {

LoraConfig lora_config_for(const TrainConfig& c) {
  LoraConfig lora;
  lora.r = c.lora_r;
  lora.lora_alpha = static_cast<double>(c.lora_alpha);
  lora.lora_dropout = c.lora_dropout;
  lora.use_rslora = c.use_rslora;
  if (c.lora_target_modules.size() == 1 && c.lora_target_modules[0] != "all-linear" &&
      c.lora_target_modules[0].find_first_of("()[]*+?|\\^$") != std::string::npos)
    lora.target_regex = c.lora_target_modules[0];
  else
    lora.target_modules = c.lora_target_modules;
  // absolute: the adapter names its base model wherever it is loaded from; a Hub id as PEFT
  // writes it (loaded from the Hub or from any cache)
  lora.base_model_name_or_path =
      !c.model_hub_id.empty() ? c.model_hub_id
                              : fs::absolute(c.model_name_or_path).lexically_normal().string();
  return lora;
}

namespace {

[[noreturn]] void conflict(const fs::path& checkpoint, const std::string& key,
                           const std::string& saved, const std::string& asked) {
  throw_user_error(
      "resume_from_checkpoint: {} was trained with {} {}, but this config sets {}; a resumed run "
      "keeps the checkpoint's weights, so set {}: {} (or start a new run in another output_dir)",
      checkpoint.string(), key, saved, asked, key, saved);
}

std::string targets_text(const LoraConfig& lora) {
  return lora.target_regex ? *lora.target_regex : "[" + join(lora.target_modules, ", ") + "]";
}

}  // namespace

void check_resume_settings(const TrainConfig& c, const fs::path& checkpoint) {
  const fs::path adapter_config = checkpoint / "adapter_config.json";
  const bool has_adapter = fs::exists(adapter_config);
  if (c.use_peft != has_adapter)
    conflict(checkpoint, "use_peft", has_adapter ? "true" : "false", c.use_peft ? "true" : "false");
  if (!has_adapter) return;
  const LoraConfig saved =
      lora_config_from_json(read_file(adapter_config), adapter_config.string());
  // Training on from an adapter: its adapter_config.json, not the lora_* keys, set the LoRA.
  const fs::path start_config =
      c.adapter_name_or_path ? fs::path(*c.adapter_name_or_path) / "adapter_config.json" : "";
  const LoraConfig asked =
      c.adapter_name_or_path ? lora_config_from_json(read_file(start_config), start_config.string())
                             : lora_config_for(c);
  if (saved.r != asked.r)
    conflict(checkpoint, "lora_r", std::to_string(saved.r), std::to_string(asked.r));
  if (saved.lora_alpha != asked.lora_alpha)
    conflict(checkpoint, "lora_alpha", fmt::format("{}", saved.lora_alpha),
             fmt::format("{}", asked.lora_alpha));
  if (saved.use_rslora != asked.use_rslora)
    conflict(checkpoint, "use_rslora", saved.use_rslora ? "true" : "false",
             asked.use_rslora ? "true" : "false");
  // (a phi3 run's adapter names its fused layers: with_fused_target_names of the keys' list)
  if (targets_text(saved) != targets_text(asked) &&
      targets_text(saved) != targets_text(with_fused_target_names(asked)))
    conflict(checkpoint, "lora_target_modules", targets_text(saved), targets_text(asked));
  if (!c.disable_dropout && saved.lora_dropout != asked.lora_dropout)
    conflict(checkpoint, "lora_dropout", fmt::format("{}", saved.lora_dropout),
             fmt::format("{}", asked.lora_dropout));
}

}  // namespace dpo
