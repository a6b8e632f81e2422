// The reference of the DPO family in one place: where its log-probs come from (the policy's base
// model with every adapter switched off, a frozen copy of the starting model for full fine-tuning,
// or the precomputed cache table) and how many reference passes ran.
// Shape legend: P pairs, E examples of a split.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "data/batch.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "train/logprobs.h"

namespace dpo {

// Log-probs of pairs, chosen and rejected: (P) for a batch, (E) for a cache table; float32.
struct RefLogps {
  at::Tensor chosen;
  at::Tensor rejected;
};

// The rows of `table` at `positions` (indices into the example list).
RefLogps gather_rows(const RefLogps& table, const std::vector<int64_t>& positions);

// The reference log-probs of every train and eval pair (precompute_ref_log_probs), CPU.
struct RefTables {
  RefLogps train, eval;
};

enum class Split { kTrain, kEval };

// Which examples a batch holds: its pairs' positions in their split (cache look-ups).
struct BatchRows {
  Split split = Split::kTrain;
  std::vector<int64_t> positions;
};

class Reference {
 public:
  // `lora`'s base model: the policy with every adapter off (null: the policy model itself, only
  // meaningful for evaluating a plain model).
  static Reference adapters_off(const LoraModel* lora);
  // A frozen copy of the starting model: full fine-tuning, where the policy is the whole model,
  // or base + the trained adapter a LoRA run starts from (adapter_name_or_path).
  static Reference frozen_copy(LlamaModel model);

  // Reference log-probs of `batch`'s pairs, under no-grad (ld_alpha applied as to the policy, as
  // TRL does); from the tables when they are set, else one reference pass through the model.
  RefLogps logps(const LlamaModel& policy, const TokenBatch& batch, const LogProbOptions& options,
                 const BatchRows& rows);

  // From now on, look every pair up in `tables` (the frozen copy, if any, is released).
  void use_tables(RefTables tables);
  bool has_tables() const { return tables_.has_value(); }
  // The weights reference passes run on (the cache key hashes them).
  const LlamaModel& base_model(const LlamaModel& policy) const;
  int64_t passes() const { return passes_; }

 private:
  Reference() = default;
  const LoraModel* lora_ = nullptr;
  std::optional<LlamaModel> frozen_;
  std::optional<RefTables> tables_;
  int64_t passes_ = 0;
};

}  // namespace dpo
