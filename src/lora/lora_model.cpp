// LoRA injection, PEFT initialization, the disable switch and merging.
// Shape legend: R rank, in/out features of a linear layer.
#include "lora/lora_model.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "util/error.h"
#include "util/strings.h"

namespace dpo {

namespace {

// The suffix PEFT stores for all-linear: the last component of the module name ("q_proj").
std::string last_component(const std::string& name) {
  size_t dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

// PEFT's initial A (R, in) and B (out, R) in float32 on the CPU.
std::pair<at::Tensor, at::Tensor> initial_weights(const std::string& init, int64_t rank,
                                                  int64_t in_features, int64_t out_features,
                                                  at::Generator& generator) {
  at::Tensor a = at::empty({rank, in_features}, at::kFloat);
  at::Tensor b = at::zeros({out_features, rank}, at::kFloat);
  // kaiming_uniform_(a=sqrt(5)) on a (rows, fan_in) weight: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  double bound_a = 1.0 / std::sqrt(static_cast<double>(in_features));
  if (init == "true") {
    a.uniform_(-bound_a, bound_a, generator);
  } else if (init == "gaussian") {
    a.normal_(0.0, 1.0 / static_cast<double>(rank), generator);
  } else if (init == "false") {
    double bound_b = 1.0 / std::sqrt(static_cast<double>(rank));
    a.uniform_(-bound_a, bound_a, generator);
    b.uniform_(-bound_b, bound_b, generator);
  } else {
    throw_user_error("init_lora_weights '{}' cannot create an adapter; use true, false or gaussian",
                     init);
  }
  return {a, b};
}

}  // namespace

std::string peft_lora_key(const std::string& module_name, char which) {
  return "base_model.model." + module_name + ".lora_" + std::string(1, which) + ".weight";
}

LoraModel::DisabledScope::DisabledScope(std::shared_ptr<LoraSwitches> switches)
    : switches_(std::move(switches)), previous_(switches_->enabled) {
  switches_->enabled = false;
}

LoraModel::DisabledScope::~DisabledScope() {
  switches_->enabled = previous_;
}

LoraModel LoraModel::attach(
    LlamaModel& model, LoraConfig config,
    const std::vector<std::pair<std::string, std::pair<at::Tensor, at::Tensor>>>& weights) {
  LoraModel lora(std::move(config), std::make_shared<LoraSwitches>());
  std::map<std::string, Linear*> linears;
  for (auto& [name, linear] : model.named_linears()) linears[name] = linear;
  for (const auto& [name, ab] : weights) {
    auto it = linears.find(name);
    DPO_CHECK(it != linears.end(), "attach: no linear layer named {}", name);
    Linear* linear = it->second;
    if (linear->adapter)
      throw_user_error("{} already has an adapter; load one adapter per model", name);
    // Own float32 copies (never aliases of a caller's or a file's tensors).
    at::Tensor a = ab.first.to(model.device(), at::kFloat, false, /*copy=*/true)
                       .contiguous()
                       .requires_grad_(true);
    at::Tensor b = ab.second.to(model.device(), at::kFloat, false, /*copy=*/true)
                       .contiguous()
                       .requires_grad_(true);
    auto adapter = std::make_shared<LoraLinear>(a, b, lora.config_.scaling_for(name),
                                                lora.config_.lora_dropout, lora.switches_);
    linear->adapter = adapter;
    lora.modules_.push_back({name, linear, adapter});
  }
  return lora;
}

LoraModel LoraModel::create(LlamaModel& model, LoraConfig config, uint64_t seed) {
  config.validate();
  at::Generator generator = at::detail::createCPUGenerator(seed);
  std::vector<std::pair<std::string, std::pair<at::Tensor, at::Tensor>>> weights;
  std::vector<std::string> suffixes;
  for (auto& [name, linear] : model.named_linears()) {
    if (!config.targets(name)) continue;
    if (last_component(name) == "lm_head")
      throw_user_error(
          "lora_target_modules matches lm_head; dpo.cpp puts adapters on the decoder layers only");
    int64_t rank = config.rank_for(name);
    weights.push_back({name, initial_weights(config.init_lora_weights, rank, linear->in_features(),
                                             linear->out_features(), generator)});
    std::string suffix = last_component(name);
    if (std::find(suffixes.begin(), suffixes.end(), suffix) == suffixes.end())
      suffixes.push_back(suffix);
  }
  if (weights.empty()) {
    std::string targets =
        config.target_regex ? *config.target_regex : join(config.target_modules, ", ");
    throw_user_error(
        "lora_target_modules ({}) match no linear layer of the model (its layers are named like "
        "model.layers.0.self_attn.q_proj, model.layers.0.mlp.gate_proj)",
        targets);
  }
  bool all_linear = !config.target_regex && config.target_modules.size() == 1 &&
                    config.target_modules[0] == "all-linear";
  if (all_linear) config.target_modules = suffixes;
  return attach(model, std::move(config), weights);
}

std::vector<std::pair<std::string, at::Tensor>> LoraModel::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& module : modules_) {
    out.push_back({peft_lora_key(module.name, 'A'), module.adapter->lora_A()});
    out.push_back({peft_lora_key(module.name, 'B'), module.adapter->lora_B()});
  }
  return out;
}

std::vector<at::Tensor> LoraModel::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

int64_t LoraModel::num_parameters() const {
  int64_t total = 0;
  for (const auto& tensor : parameters()) total += tensor.numel();
  return total;
}

void LoraModel::set_requires_grad(bool requires_grad) {
  for (auto& tensor : parameters()) tensor.requires_grad_(requires_grad);
}

void LoraModel::merge_and_unload() {
  at::NoGradGuard no_grad;
  for (auto& module : modules_) {
    Linear& linear = *module.linear;
    at::Tensor merged = linear.weight.to(at::kFloat) + module.adapter->merged_delta();  // (out, in)
    // A new tensor: the base weight may alias a read-only file mapping.
    linear.weight = merged.to(linear.weight.scalar_type());
    linear.adapter.reset();
  }
  modules_.clear();
}

void LoraModel::unload() {
  for (auto& module : modules_) module.linear->adapter.reset();
  modules_.clear();
}

}  // namespace dpo
