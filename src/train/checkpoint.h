// checkpoint-N/: everything needed to continue a run exactly (DESIGN.md "Outputs"):
//   adapter_model.safetensors + adapter_config.json (PEFT) — or, with full fine-tuning, a full HF
//   model folder; optimizer.safetensors (AdamW state by parameter name); scheduler.json;
//   rng_state.json (CPU generator state and the data position); trainer_state.json; tokenizer
//   files. Written into a temp folder and renamed, so a kill never leaves half a checkpoint.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "lora/lora_model.h"
#include "model/llama.h"
#include "train/optimizer.h"
#include "train/trainer_state.h"

namespace dpo {

// Where the data stream stands and the generator that drives dropout.
struct RngState {
  int64_t epoch = 0;           // epoch being read
  int64_t batch_in_epoch = 0;  // micro-batches of it already consumed
  int64_t nonfinite_in_a_row = 0;
  double train_loss_sum = 0.0;  // over the good steps so far (the final train_loss)
  int64_t train_loss_steps = 0;
  at::Tensor cpu_generator;   // torch's default CPU generator state (uint8)
  at::Tensor cuda_generator;  // the default CUDA generator's (uint8), for runs on CUDA

  std::string to_json() const;
  static RngState from_json(const std::string& text, const std::string& source);
  // Captures / restores torch's default CPU generator.
  static at::Tensor capture_cpu_generator();
  static void restore_cpu_generator(const at::Tensor& state);
  // The same for the default CUDA generator (LoRA dropout on CUDA draws from it); undefined /
  // nothing where CUDA is unavailable.
  static at::Tensor capture_cuda_generator();
  static void restore_cuda_generator(const at::Tensor& state);
};

// The trained weights: a LoRA adapter, or (lora null) the whole model as an HF folder.
struct TrainedWeights {
  const LoraModel* lora = nullptr;
  const LlamaModel* model = nullptr;
  std::filesystem::path model_source_dir;  // config.json etc. for a full model
  at::ScalarType full_model_dtype = at::kFloat;
  std::filesystem::path tokenizer_dir;
};

// Writes the weights (adapter or full model) and tokenizer files into `dir` (which exists).
void write_trained_weights(const std::filesystem::path& dir, const TrainedWeights& weights);

struct CheckpointData {
  TrainedWeights weights;
  const AdamW* optimizer = nullptr;
  std::string scheduler_json;
  RngState rng;
  const TrainerState* state = nullptr;
  std::string config_yaml;
};

// OUTPUT_DIR/checkpoint-STEP, written atomically; returns its path.
std::filesystem::path write_checkpoint(const std::filesystem::path& output_dir, int64_t step,
                                       const CheckpointData& data);

struct LoadedCheckpoint {
  std::filesystem::path dir;
  TrainerState state;
  std::map<std::string, at::Tensor> optimizer_state;
  std::string scheduler_json;
  RngState rng;
};
// UserError naming the file when a part is missing or malformed.
LoadedCheckpoint read_checkpoint(const std::filesystem::path& dir);

}  // namespace dpo
