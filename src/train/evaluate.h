// Evaluation: the loss and TRL's metrics over the eval examples, averaged over batches, with the
// `eval_` prefix (eval_loss, eval_rewards/accuracies, ...) plus HF's eval_runtime,
// eval_samples_per_second and eval_steps_per_second.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/examples.h"
#include "train/batch_loss.h"
#include "train/ref_cache.h"

namespace dpo {

struct EvalData {
  const std::vector<PreferenceExample>* preference = nullptr;  // one of these two
  const std::vector<SftExample>* sft = nullptr;
  const RefLogpsTable* reference = nullptr;  // precomputed reference log-probs, or null
  int64_t batch_size = 8;
  int64_t pad_token_id = 0;
  at::Device device = at::kCPU;
  BatchLayout layout = BatchLayout::kPadded;                 // kPacked: padding_free
  int64_t max_row_tokens = kRowsAsWideAsTheLongestSequence;  // of packed rows (data/batch.h)
};

std::map<std::string, double> evaluate(const LossSetup& setup, const EvalData& data);

}  // namespace dpo
