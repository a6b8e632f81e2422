// The metrics TRL's DPOTrainer logs, per batch, and their average over batches.
// Shape legend: P pairs, S = 2P sequences (chosen 0..P-1, rejected P..2P-1).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/kto_losses.h"
#include "train/logprobs.h"
#include "train/losses.h"
#include "train/ref_free_losses.h"

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

// One batch of CPO / SimPO / ORPO, TRL's CPOTrainer / ORPOTrainer names (no prefix):
//   rewards/chosen, rewards/rejected  mean of beta * policy log-prob (CPO with alpha: AlphaPO's)
//   rewards/accuracies, rewards/margins  as above
//   logps/chosen, logps/rejected      mean policy log-prob (averaged per token where the loss is)
//   logits/chosen, logits/rejected    mean over the vocabulary and over every position of the
//                                     chosen (rejected) sequences; TRL averages over the whole
//                                     padded block, so its value also counts padding positions
//   nll_loss                          the NLL term (CPO: 0 when cpo_alpha is 0)
//   log_odds_ratio, log_odds_chosen   ORPO only
// `logps` (S): what the loss read; `policy` needs position_logit_means.
std::map<std::string, double> ref_free_batch_metrics(const RefFreeLossConfig& config,
                                                     const RefFreeLossOutput& loss,
                                                     const at::Tensor& logps,
                                                     const SequenceLogProbs& policy,
                                                     int64_t num_pairs);

// One KTO batch, TRL's KTOTrainer names (no prefix); a key is absent from a batch without the
// examples it averages (TRL appends nothing then):
//   kl                                the KL estimate (0 without the KL term)
//   rewards/chosen, logps/chosen      mean over the desirable examples (beta * log-ratio; policy
//                                     log-prob)
//   rewards/rejected, logps/rejected  the same over the undesirable examples
//   rewards/margins                   rewards/chosen - rewards/rejected (batches with both)
//   logits/chosen, logits/rejected    mean logit over the completion tokens of each kind
//   entropy                           mean over every example's completion tokens
// `logps` (B): the policy's; `policy` (S = 2B, token_stats); `desirable` (B) bool.
std::map<std::string, double> kto_batch_metrics(const KtoLossOutput& loss, const at::Tensor& logps,
                                                const SequenceLogProbs& policy,
                                                const at::Tensor& desirable, int64_t num_examples);

// Averages metrics over the batches since the last clear(), as TRL does between logs: every key
// is the mean of its per-batch values, except num_tokens (a running total: the latest value).
// The weight of each metric of a batch when batches (or data-parallel ranks' shares of one) are
// merged: the denominator of its mean. Every metric of `metrics` gets `pairs` unless named in
// `per_token` (metric -> the tokens its ratio divides by).
std::map<std::string, double> metric_weights(const std::map<std::string, double>& metrics,
                                             double pairs,
                                             const std::map<std::string, double>& per_token);

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
