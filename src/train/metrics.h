// The metrics TRL's DPOTrainer logs, per batch, and their average over batches.
// Shape legend: P pairs, S = 2P sequences (chosen 0..P-1, rejected P..2P-1).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/logprobs.h"
#include "train/losses.h"

namespace dpo {

// One batch, TRL's names (no prefix):
//   rewards/chosen, rewards/rejected  mean of beta * (policy - reference)
//   rewards/accuracies                mean of chosen reward > rejected reward (strict)
//   rewards/margins                   mean of chosen - rejected reward
//   logps/chosen, logps/rejected      mean policy log-prob (ld_alpha-weighted when set)
//   logits/chosen, logits/rejected    sum over completion tokens of the mean-over-vocab logit,
//                                     divided by the number of those tokens
//   entropy                           mean entropy over all completion tokens (chosen+rejected)
//   mean_token_accuracy               argmax hits over chosen completion tokens / their count
//   nll_loss                          mean chosen NLL (only with sft or rpo_alpha, TRL < 1.0 name)
// `policy` needs token_stats. num_tokens is TRL's running total of trained tokens; the caller
// adds it (and loss, grad_norm, learning_rate, epoch).
std::map<std::string, double> preference_batch_metrics(const LossOutput& loss,
                                                       const PreferenceLogps& logps,
                                                       const SequenceLogProbs& policy,
                                                       int64_t num_pairs);

// Averages metrics over the batches since the last clear(), as TRL does between logs: every key
// is the mean of its per-batch values, except num_tokens (a running total: the latest value).
class MetricAverager {
 public:
  void add(const std::map<std::string, double>& batch_metrics);
  // With prefix "eval_" every name gets it (eval_rewards/chosen ...).
  std::map<std::string, double> mean(const std::string& prefix = "") const;
  bool empty() const { return values_.empty(); }
  void clear() { values_.clear(); }

 private:
  std::map<std::string, std::vector<double>> values_;
};

}  // namespace dpo
