// The LoRA adapters injected into one LlamaModel: creation (PEFT init), parameters, the scoped
// switch that turns them off for the reference pass, PEFT adapter files, merge.
//
//   LoraModel lora = LoraModel::create(model, config, seed);  // only LoRA params require grad
//   at::Tensor hidden = model.forward_hidden(input);           // policy
//   { at::NoGradGuard g; auto off = lora.disabled(); ref = model.forward_hidden(input); }
//   lora.save(dir);                                            // adapter_model.safetensors +
//   config
//
// The adapters live inside the model's Linear layers (shared_ptr); the LoraModel keeps pointers to
// those layers, so the LlamaModel must outlive it (moving the LlamaModel is fine).
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lora/lora_config.h"
#include "lora/lora_linear.h"
#include "model/llama.h"

namespace dpo {

class LoraModel {
 public:
  struct Module {
    std::string name;  // "model.layers.0.self_attn.q_proj"
    Linear* linear;
    std::shared_ptr<LoraLinear> adapter;
  };

  // Injects a fresh adapter into every linear the config targets. Initialization as PEFT's
  // init_lora_weights: true (A ~ U(-1/sqrt(in), 1/sqrt(in)) i.e. kaiming_uniform(a=sqrt(5)), B =
  // 0), "gaussian" (A ~ N(0, 1/R), B = 0) or false (A and B as nn.Linear's default init), drawn in
  // module order (A then B) from a CPU generator seeded with `seed`. With all-linear the config's
  // target_modules become the matched module names (as PEFT saves them). UserError when nothing
  // matches or a module already has an adapter.
  static LoraModel create(LlamaModel& model, LoraConfig config, uint64_t seed);
  // Loads adapter_config.json + adapter_model.safetensors (PEFT format, rank_pattern and
  // alpha_pattern honoured). UserError naming the file and tensor when the adapter does not fit
  // the model: a targeted module without tensors, a tensor for a module the model lacks, a shape
  // that differs from the model's layer, a missing file, NaN or infinite weights. Dropout is off
  // (inference: generate, eval, merge give the same answers every run); training turns it on.
  static LoraModel load(LlamaModel& model, const std::filesystem::path& adapter_dir);
  // Writes adapter_model.safetensors (keys base_model.model.<module>.lora_A.weight [R, in] and
  // .lora_B.weight [out, R], float32, metadata {"format": "pt"}) and adapter_config.json, each
  // atomically, into `dir` (created if needed).
  void save(const std::filesystem::path& dir) const;

  const LoraConfig& config() const { return config_; }
  const std::vector<Module>& modules() const { return modules_; }
  // PEFT file names ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight") -> tensor
  // (the live parameters), module order, A before B.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;
  std::vector<at::Tensor> parameters() const;
  int64_t num_parameters() const;
  void set_requires_grad(bool requires_grad);

  // Dropout on (training) or off (evaluation, or TRL's disable_dropout).
  void set_dropout_active(bool active) { switches_->dropout_active = active; }
  bool enabled() const { return switches_->enabled; }

  // While alive, every adapter is off: the model computes the base (reference) outputs.
  class DisabledScope {
   public:
    explicit DisabledScope(std::shared_ptr<LoraSwitches> switches);
    ~DisabledScope();
    DisabledScope(const DisabledScope&) = delete;
    DisabledScope& operator=(const DisabledScope&) = delete;

   private:
    std::shared_ptr<LoraSwitches> switches_;
    bool previous_;
  };
  [[nodiscard]] DisabledScope disabled() const { return DisabledScope(switches_); }

  // W <- W + s * B @ A in float32 (cast back to W's dtype), then removes the adapters from the
  // model. The LoraModel is empty afterwards.
  void merge_and_unload();
  // Removes the adapters without merging.
  void unload();

  // Adapters from given tensors (module name -> {A (R, in), B (out, R)}); `load` uses it.
  static LoraModel attach(
      LlamaModel& model, LoraConfig config,
      const std::vector<std::pair<std::string, std::pair<at::Tensor, at::Tensor>>>& weights);

 private:
  LoraModel(LoraConfig config, std::shared_ptr<LoraSwitches> switches)
      : config_(std::move(config)), switches_(std::move(switches)) {}
  LoraConfig config_;
  std::shared_ptr<LoraSwitches> switches_;
  std::vector<Module> modules_;
};

// "base_model.model." + module + ".lora_A.weight" (PEFT's saved key; no adapter name).
std::string peft_lora_key(const std::string& module_name, char which /* 'A' or 'B' */);

}  // namespace dpo
