// The loss and metrics of one batch, for training and evaluation alike: preference batches
// (policy + reference log-probs -> the DPO loss family) and SFT batches (token NLL).
// Shape legend: P pairs, S sequences, M scored tokens.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>

#include "data/batch.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "train/losses.h"
#include "train/preference.h"

namespace dpo {

struct LossSetup {
  const LlamaModel* model = nullptr;
  const LoraModel* lora = nullptr;              // null: full fine-tuning
  const LlamaModel* reference_model = nullptr;  // full fine-tuning DPO: a frozen copy
  LossConfig loss;
  RunningMoments* bco_state = nullptr;    // bco_pair running mean (optional)
  int64_t* reference_forwards = nullptr;  // counts reference passes (optional)
};

struct BatchResult {
  at::Tensor loss;  // () differentiable (undefined under no-grad use)
  double loss_value = 0.0;
  std::map<std::string, double> metrics;  // TRL names, no prefix
  int64_t scored_tokens = 0;
};

// Preference batch on the model's device; `precomputed` from the reference cache or null.
BatchResult preference_batch_loss(const LossSetup& setup, const TokenBatch& batch,
                                  const ReferenceLogps* precomputed);

// SFT batch: sum of the completion tokens' NLL divided by `token_normalizer` (the completion
// tokens of the whole accumulation group, as transformers' num_items_in_batch; <= 0: this
// batch's own count). Metrics: mean_token_accuracy, entropy (per token of this batch).
BatchResult sft_batch_loss(const LossSetup& setup, const TokenBatch& batch,
                           double token_normalizer);

// The completion tokens an SFT batch scores.
int64_t scored_token_count(const TokenBatch& batch);

}  // namespace dpo
