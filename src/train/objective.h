// What a run minimises, built once per run: the preference objective (the DPO loss family
// against one Reference), a reference-free preference objective (CPO, SimPO, ORPO: no reference
// pass at all; its batch step is objective_ref_free.cpp) or SFT (token NLL). objective.cpp is the
// whole training step: reference pass, policy pass, loss and backward over the micro-batches of
// one optimizer step; the trainer, the evaluation loop and `dpo eval` all go through it.
// Shape legend: P pairs, S = 2P sequences.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/batch.h"
#include "model/llama.h"
#include "train/batcher.h"
#include "train/kto_losses.h"
#include "train/logprobs.h"
#include "train/losses.h"
#include "train/ref_free_losses.h"
#include "train/reference.h"

namespace dpo {

struct BatchResult {
  at::Tensor loss;  // () differentiable (undefined under no-grad use)
  double loss_value = 0.0;
  std::map<std::string, double> metrics;  // TRL names, no prefix
  // Each metric's weight when batches (or ranks' shares of one) are merged: the denominator of its
  // mean (pairs, or the tokens of a per-token ratio).
  std::map<std::string, double> metric_weights;
  int64_t scored_tokens = 0;
  // Tokens this batch trains on, for num_tokens (-1: every real token of the batch; KTO: its
  // examples' sequences, not the KL ones).
  int64_t trained_tokens = -1;
  // Preference batches: the per-pair numbers (dpo eval --per-example reads them).
  LossOutput pairs;
  PreferenceLogps logps;
};

// What the micro-batches of one optimizer step produced (the gradients are in the parameters).
struct AccumulatedStep {
  double loss = 0.0;   // sum of the scaled micro-batch losses (the step's mean loss)
  bool finite = true;  // false: a micro-batch loss was not finite (`loss` is that loss)
  int64_t tokens = 0;
  int64_t positions = 0;         // token positions computed (rows x row length), padding included
  int64_t real_positions = 0;    // of them, the non-padding ones
  int64_t shared_positions = 0;  // prompt tokens computed once for two sequences (prompt sharing)
  // The positions of TRL's padded input_ids for every micro-batch, non-finite ones included
  // (train/flos.h: total_flos).
  int64_t trl_input_positions = 0;
  std::vector<std::map<std::string, double>> batch_metrics;
  std::vector<std::map<std::string, double>> batch_metric_weights;  // BatchResult::metric_weights
};

// This process's share of an optimizer step whose micro-batches are split over data-parallel
// ranks (train/data_parallel.h). The default is the whole step in one process.
struct StepShare {
  int64_t micro_batches = 0;    // of the whole step (0: the batches given)
  std::vector<double> weights;  // per given batch: its examples / its global micro-batch's
  std::function<double(double)> sum_over_ranks;  // SFT's token count of the step; null: identity
};

struct PreferenceForward {
  SequenceLogProbs policy;  // (S) per sequence, differentiable where the model has trainable params
  PreferenceLogps logps;    // what preference_loss reads (ld_alpha-weighted when set)
};

// Reference pass, then policy pass, of a preference batch already on the model's device.
PreferenceForward preference_forward(const LlamaModel& model, const TokenBatch& batch,
                                     const LogProbOptions& options, Reference& reference,
                                     const BatchRows& rows = {});

class Objective {
 public:
  // `model` is the policy (with its adapters, if any); it must outlive the objective.
  static Objective preference(const LlamaModel& model, LossConfig loss, Reference reference);
  static Objective reference_free(const LlamaModel& model, RefFreeLossConfig loss);
  // KTO (its batch step: objective_kto.cpp): batches of train/kto_data.h's pairs; `desirable`
  // holds the label of every train and eval pair (looked up through MicroBatch::rows).
  struct KtoLabels {
    std::vector<uint8_t> train, eval;
  };
  static Objective kto(const LlamaModel& model, KtoLossConfig loss, Reference reference,
                       KtoLabels desirable);
  static Objective sft(const LlamaModel& model);

  enum class Kind { kPreference, kReferenceFree, kKto, kSft };
  Kind kind() const { return kind_; }
  // Preference pairs (with or without a reference), batch losses averaged over micro-batches.
  bool is_pairwise() const { return kind_ != Kind::kSft; }
  bool has_reference() const { return reference_.has_value(); }
  // Loss and metrics of one micro-batch. SFT: the completion tokens' NLL summed and divided by
  // `sft_token_normalizer` (the completion tokens of the whole accumulation group, as
  // transformers' num_items_in_batch; <= 0: this batch's own count).
  BatchResult loss(const MicroBatch& batch, double sft_token_normalizer = 0.0);
  // Forward and backward over the micro-batches of one optimizer step, as transformers
  // accumulates: each loss divided by the number of micro-batches (SFT: by the completion tokens
  // of the whole step), so the gradient is that of the mean over the whole step's data.
  // Data-parallel ranks pass their `share`: each pairwise loss is weighted by its share of its
  // global micro-batch and SFT's normalizer counts every rank's tokens, so that the gradients
  // summed over ranks are those of one process over the whole step.
  AccumulatedStep accumulate(const std::vector<MicroBatch>& batches, const StepShare& share = {});

  const LossConfig& loss_config() const { return loss_; }
  const RefFreeLossConfig& ref_free_config() const { return ref_free_; }
  const KtoLossConfig& kto_config() const { return kto_; }
  Reference& reference() { return *reference_; }
  int64_t reference_passes() const { return reference_ ? reference_->passes() : 0; }

 private:
  Objective(const LlamaModel& model, Kind kind, LossConfig loss,
            std::optional<Reference> reference);
  BatchResult preference_loss_of(const MicroBatch& batch);
  BatchResult ref_free_loss_of(const MicroBatch& batch);  // objective_ref_free.cpp
  BatchResult kto_loss_of(const MicroBatch& batch);       // objective_kto.cpp
  BatchResult sft_loss_of(const MicroBatch& batch, double token_normalizer);

  const LlamaModel* model_;
  Kind kind_;
  LossConfig loss_;
  RefFreeLossConfig ref_free_;
  KtoLossConfig kto_;
  KtoLabels kto_labels_;
  std::optional<Reference> reference_;
  RunningMoments bco_state_;  // bco_pair's running mean of the rewards
};

// The completion tokens an SFT batch scores.
int64_t scored_token_count(const TokenBatch& batch);

}  // namespace dpo
