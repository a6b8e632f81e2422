// checkpoint-N/: everything needed to continue a run exactly (DESIGN.md "Outputs"):
//   adapter_model.safetensors + adapter_config.json (PEFT) — or, with full fine-tuning, a full HF
//   model folder; optimizer.safetensors (AdamW state by parameter name); scheduler.json;
//   rng_state.json (the data position, running totals and generator states); trainer_state.json;
//   tokenizer files. Written into a temp folder and renamed, so a kill never leaves half a
//   checkpoint.
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

// Where the data stream stands: the epoch being read and its micro-batches already consumed.
struct DataPosition {
  int64_t epoch = 0;
  int64_t batch_in_epoch = 0;
};

// Running totals of a run, continued by a resumed run.
struct RunTotals {
  int64_t nonfinite_in_a_row = 0;
  double train_loss_sum = 0.0;  // over the good steps so far (the final train_loss)
  int64_t train_loss_steps = 0;
};

// torch's default generators (LoRA dropout draws from them).
struct Generators {
  at::Tensor cpu;   // the default CPU generator's state (uint8)
  at::Tensor cuda;  // the default CUDA generator's (uint8), for runs on CUDA; else undefined

  // The states now (the CUDA one only when `device` is CUDA), and back.
  static Generators capture(at::Device device);
  void restore(at::Device device) const;
  static at::Tensor capture_cpu();
  static void restore_cpu(const at::Tensor& state);
  // Undefined / nothing where CUDA is unavailable.
  static at::Tensor capture_cuda();
  static void restore_cuda(const at::Tensor& state);
  // One line of hex (cpu, then ':' and cuda when there is one), to send between ranks.
  std::string to_text() const;
  static Generators from_text(const std::string& text, const std::string& source);
};

// rng_state.json (transformers' name for it): besides the weights, the optimizer and the trainer
// state, what an exact resume needs.
struct ResumeState {
  DataPosition position;
  RunTotals totals;
  Generators generators;  // rank 0's (the process's, in a run of one process)
  // Data-parallel runs: the number of ranks, and the generators of ranks 1..world_size-1.
  int64_t world_size = 1;
  std::vector<Generators> rank_generators;

  std::string to_json() const;
  static ResumeState from_json(const std::string& text, const std::string& source);
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
  ResumeState resume;
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
  ResumeState resume;
};
// UserError naming the file when a part is missing or malformed.
LoadedCheckpoint read_checkpoint(const std::filesystem::path& dir);

}  // namespace dpo
