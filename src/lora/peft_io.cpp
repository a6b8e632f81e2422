// PEFT adapter folders: adapter_config.json + adapter_model.safetensors.
// Shape legend: R rank, in/out features of a linear layer.
#include <map>
#include <set>

#include "io/safetensors.h"
#include "lora/lora_model.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/strings.h"

namespace dpo {

namespace {

constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";

void check_adapter_files(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw_user_error("{}: adapter folder not found", dir.string());
  if (!fs::exists(dir / kConfigFile))
    throw_user_error("{}: no {} (a PEFT adapter folder holds {} and {})", dir.string(), kConfigFile,
                     kConfigFile, kWeightsFile);
  if (!fs::exists(dir / kWeightsFile)) {
    if (fs::exists(dir / "adapter_model.bin"))
      throw_user_error(
          "{}: only adapter_model.bin found; dpo.cpp reads safetensors adapters (re-save it "
          "with PEFT's save_pretrained(safe_serialization=True))",
          dir.string());
    throw_user_error("{}: no {}", dir.string(), kWeightsFile);
  }
}

// Takes the A or B tensor of `module` out of `tensors`, checking its shape.
at::Tensor take_tensor(std::map<std::string, at::Tensor>& tensors, const std::string& module,
                       char which, std::vector<int64_t> expected, const fs::path& file) {
  std::string key = peft_lora_key(module, which);
  auto it = tensors.find(key);
  if (it == tensors.end())
    throw_user_error(
        "{}: no tensor '{}' for module {}, which adapter_config.json targets; was the adapter "
        "trained on a different base model?",
        file.string(), key, module);
  at::Tensor tensor = it->second;
  tensors.erase(it);
  if (tensor.sizes() != at::IntArrayRef(expected))
    throw_user_error(
        "{}: tensor '{}' has shape {} but the model's {} needs {} (rank from r/rank_pattern, "
        "features from the base model); the adapter does not fit this base model",
        file.string(), key, shape_text(tensor.sizes().vec()), module, shape_text(expected));
  if (at::isFloatingType(tensor.scalar_type())) {
    const int64_t bad = (~at::isfinite(tensor)).sum().item<int64_t>();
    if (bad > 0)
      throw_user_error(
          "{}: tensor '{}' holds {} NaN or infinite value{} (of {}); the adapter is corrupt or its "
          "training diverged",
          file.string(), key, bad, bad == 1 ? "" : "s", tensor.numel());
  }
  return tensor;
}

}  // namespace

LoraModel LoraModel::load(LlamaModel& model, const fs::path& adapter_dir) {
  check_adapter_files(adapter_dir);
  fs::path config_path = adapter_dir / kConfigFile;
  fs::path weights_path = adapter_dir / kWeightsFile;
  LoraConfig config = lora_config_from_json(read_file(config_path), config_path.string());
  std::map<std::string, at::Tensor> tensors = load_safetensors(weights_path);

  std::vector<std::pair<std::string, std::pair<at::Tensor, at::Tensor>>> weights;
  for (auto& [name, linear] : model.named_linears()) {
    if (!config.targets(name)) continue;
    if (name == "lm_head")
      throw_user_error(
          "{}: the adapter targets lm_head; dpo.cpp supports adapters on the decoder layers only",
          config_path.string());
    int64_t rank = config.rank_for(name);
    at::Tensor a = take_tensor(tensors, name, 'A', {rank, linear->in_features()}, weights_path);
    at::Tensor b = take_tensor(tensors, name, 'B', {linear->out_features(), rank}, weights_path);
    weights.push_back({name, {a, b}});
  }
  if (!tensors.empty()) {
    const std::string& key = tensors.begin()->first;
    bool lora_key = ends_with(key, ".lora_A.weight") || ends_with(key, ".lora_B.weight");
    if (lora_key)
      throw_user_error(
          "{}: tensor '{}' has no matching targeted linear layer in the model ({} such tensors); "
          "was the adapter trained on a different base model?",
          weights_path.string(), key, tensors.size());
    throw_user_error(
        "{}: tensor '{}' is not a LoRA A/B weight; dpo.cpp loads plain LoRA adapters only",
        weights_path.string(), key);
  }
  if (weights.empty())
    throw_user_error("{}: target_modules match no linear layer of the model", config_path.string());
  LoraModel lora = attach(model, std::move(config), weights);
  lora.set_dropout_active(false);  // loaded for inference (PEFT's eval mode); training turns it on
  return lora;
}

void LoraModel::save(const fs::path& dir) const {
  ensure_directory(dir);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, tensor] : named_parameters())
    tensors[name] = tensor.detach().to(at::kCPU, at::kFloat).contiguous();
  save_safetensors(dir / kWeightsFile, tensors, {{"format", "pt"}});
  write_file_atomic(dir / kConfigFile, lora_config_to_json(config_));
}

}  // namespace dpo
