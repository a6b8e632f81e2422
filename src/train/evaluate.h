// The evaluation loop of the trainer and of `dpo eval`: the eval examples in order, in batches,
// through the run's Objective, with TRL's metrics under the `eval_` prefix. As transformers'
// evaluation loop (under accelerate) computes them:
//   eval_loss   the batch losses weighted by the examples of each batch (a short last batch
//               counts for its own size), non-finite batch losses left out when any is finite;
//   eval_<name> every other metric averaged over batches (TRL's DPOTrainer.log);
//   eval_runtime, eval_samples_per_second, eval_steps_per_second.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/examples.h"
#include "train/batcher.h"
#include "train/objective.h"

namespace dpo {

struct EvalExamples {
  const std::vector<PreferenceExample>* preference = nullptr;  // one of these two
  const std::vector<SftExample>* sft = nullptr;
  int64_t size() const;
};

// Called after each batch with the batch and its result (dpo eval --per-example).
using EvalBatchObserver = std::function<void(const MicroBatch&, const BatchResult&)>;

// Under no-grad; the caller switches dropout off. Batches hold `batch_size` examples each.
std::map<std::string, double> evaluate(Objective& objective, const Batcher& batcher,
                                       const EvalExamples& examples, int64_t batch_size,
                                       const EvalBatchObserver& observe = {});

}  // namespace dpo
