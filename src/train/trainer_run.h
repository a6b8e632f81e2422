// The state of one training run, shared by the setup steps (trainer_setup.cpp) and the loop
// (trainer.cpp). Internal to train/.
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "data/pipeline.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "report/metrics_log.h"
#include "tokenizer/tokenizer.h"
#include "train/batch_loss.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/optimizer.h"
#include "train/ref_cache.h"
#include "train/scheduler.h"
#include "train/trainer.h"
#include "train/trainer_state.h"

namespace dpo {

struct StepPlan {
  int64_t num_examples = 0;
  int64_t batches_per_epoch = 0;  // ceil(examples / batch size)
  int64_t updates_per_epoch = 0;  // ceil(batches / gradient_accumulation_steps), at least 1
  int64_t max_steps = 0;
  int64_t logging_steps = 0;
  int64_t eval_steps = 0;  // 0: at the end only
  int64_t save_steps = 0;
  int64_t warmup_steps = 0;
};

struct Run {
  TrainConfig config;
  TrainMode mode = TrainMode::kPreference;
  RunOptions options;
  std::filesystem::path output_dir;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;

  std::filesystem::path tokenizer_dir;
  std::optional<Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;
  int64_t pad_token_id = 0;

  PreferenceData preference;
  SftData sft;

  std::optional<LlamaModel> model;
  std::optional<LlamaModel> reference_model;  // full fine-tuning DPO without precomputed refs
  std::optional<LoraModel> lora;
  std::filesystem::path model_source_dir;  // config.json for full-model saves

  std::optional<CachedRefLogps> reference;  // precompute_ref_log_probs
  int64_t reference_forwards = 0;
  RunningMoments bco_state;

  StepPlan plan;
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<LrSchedule> schedule;
  TrainerState state;
  RngState position;  // data position + generator of the next step
  std::optional<std::filesystem::path> resume_dir;
  std::unique_ptr<report::MetricsLog> metrics;
  std::chrono::steady_clock::time_point started;

  bool is_preference() const { return mode == TrainMode::kPreference; }
  // padding_free: packed rows (data/batch.h), as wide as packed_row_tokens() says.
  BatchLayout batch_layout() const {
    return config.padding_free ? BatchLayout::kPacked : BatchLayout::kPadded;
  }
  int64_t packed_row_tokens() const {
    return padding_free_row_tokens(model->packed_rows_use_varlen_attention());
  }
  // Batches in the run's layout, on the run's device.
  TokenBatch preference_batch(const std::vector<PreferenceExample>& pairs) const;
  TokenBatch sft_batch(const std::vector<SftExample>& examples) const;
  int64_t train_size() const;
  LossSetup loss_setup();
  std::vector<at::Tensor> trainable_parameters() const;
  TrainedWeights trained_weights() const;
};

// Setup steps, in order (trainer_setup.cpp).
void setup_device(Run& run);
void setup_tokenizer(Run& run);
void setup_data(Run& run);
void setup_model(Run& run);
void setup_reference(Run& run);
void setup_plan(Run& run);
void setup_optimizer(Run& run);
LossConfig loss_config_from(const TrainConfig& config);

}  // namespace dpo
