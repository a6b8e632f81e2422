// One training run in two parts (internal to train/):
//   RunSetup     what the run is, set up once by the setup steps (run_setup.cpp): config, device,
//                tokenizer, data, model and adapters, objective (with its reference), batcher and
//                the plan of steps;
//   RunProgress  where it stands (run_progress.cpp): optimizer, schedule, trainer state, data
//                position and running totals; what a checkpoint saves and `resume` restores.
// The loop that moves one into the other is trainer.cpp.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "data/pipeline.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "train/batcher.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/data_parallel.h"
#include "train/evaluate.h"
#include "train/objective.h"
#include "train/optimizer.h"
#include "train/scheduler.h"
#include "train/trainer.h"
#include "train/trainer_state.h"

namespace dpo {

struct StepPlan {
  int64_t num_examples = 0;
  // ceil(examples / (batch size x world size)): global micro-batches, each split over the ranks
  int64_t batches_per_epoch = 0;
  int64_t updates_per_epoch = 0;  // ceil(batches / gradient_accumulation_steps), at least 1
  int64_t max_steps = 0;
  int64_t logging_steps = 0;
  int64_t eval_steps = 0;  // 0: at the end only
  int64_t save_steps = 0;
  int64_t warmup_steps = 0;
};

// The examples of a run, train and eval: preference pairs (DPO, CPO, ORPO) or SFT examples.
class RunData {
 public:
  RunData() = default;
  explicit RunData(PreferenceData preference) : preference_(std::move(preference)) {}
  explicit RunData(SftData sft) : sft_(std::move(sft)) {}
  // KTO: train/kto_data.h's pairs (example, KL sequence) and the examples' labels.
  RunData(PreferenceData pairs, Objective::KtoLabels desirable)
      : preference_(std::move(pairs)), kto_labels_(std::move(desirable)) {}

  int64_t train_size() const;
  EvalExamples eval() const;
  // The training examples at `positions`, batched.
  MicroBatch train_batch(const Batcher& batcher, const std::vector<int64_t>& positions) const;
  // The tokens of each training example at `positions` (a pair: prompt, chosen and rejected).
  std::vector<int64_t> train_tokens(const std::vector<int64_t>& positions) const;
  // Pairwise runs only (the reference cache hashes and precomputes these).
  const PreferenceData& preference() const { return *preference_; }
  const Objective::KtoLabels& kto_labels() const { return kto_labels_; }

 private:
  std::optional<PreferenceData> preference_;
  std::optional<SftData> sft_;
  Objective::KtoLabels kto_labels_;
};

struct RunSetup {
  TrainConfig config;
  TrainMode mode = TrainMode::kPreference;
  RunOptions options;
  std::filesystem::path output_dir;
  std::optional<LoadedCheckpoint> resume_from;  // read once when resuming
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;

  std::filesystem::path tokenizer_dir;
  std::optional<Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;
  RunData data;

  std::optional<LlamaModel> model;
  std::optional<LoraModel> lora;           // null: full fine-tuning
  std::filesystem::path model_source_dir;  // config.json for full-model saves
  std::optional<Batcher> batcher;
  std::optional<Objective> objective;  // with its Reference (preference runs)
  StepPlan plan;
  DataParallel parallel;  // one process unless the run is data-parallel

  bool is_pairwise() const { return is_pairwise_mode(mode); }  // chosen / rejected pairs
  bool has_reference() const { return mode == TrainMode::kPreference || mode == TrainMode::kKto; }
  std::vector<at::Tensor> trainable_parameters() const;
  TrainedWeights trained_weights() const;
};

struct RunProgress {
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<LrSchedule> schedule;
  TrainerState state;
  DataPosition position;  // of the next step
  RunTotals totals;
};

// The setup steps in order: device, tokenizer, data, model (+ LoRA or full fine-tuning; from the
// checkpoint when resuming), objective and reference (a precomputed cache included), plan.
void set_up_run(RunSetup& setup);
LossConfig loss_config_from(const TrainConfig& config);
// dpo cpo / dpo orpo: the reference-free loss settings of `config`.
RefFreeLossConfig ref_free_config_from(const TrainConfig& config, TrainMode mode);
// dpo kto: the KTO loss settings of `config`.
KtoLossConfig kto_config_from(const TrainConfig& config);

// A fresh optimizer, schedule and trainer state for `setup`'s plan.
RunProgress start_progress(const RunSetup& setup);
// The one resume step: optimizer, schedule, trainer state, data position, totals and generators
// from setup.resume_from (which must match the plan).
void resume(RunProgress& progress, const RunSetup& setup);
// checkpoint-STEP of the progress so far; returns its folder.
std::filesystem::path save_checkpoint(const RunSetup& setup, const RunProgress& progress);

}  // namespace dpo
