// The batch step of the reference-free preference objectives (CPO, SimPO, ORPO; TRL 1.16's
// CPOTrainer and ORPOTrainer): one policy pass, no reference pass, the loss of
// train/ref_free_losses.h and TRL's metrics. Shape legend: P pairs, S = 2P sequences.
#include "train/metrics.h"
#include "train/objective.h"
#include "train/preference.h"

namespace dpo {

namespace {

// Mean NLL per token over the chosen sequences (0..P-1): the completion tokens, or every token
// with a predecessor (ORPO). () float32, differentiable.
at::Tensor chosen_nll(const SequenceLogProbs& policy, int64_t num_pairs, bool whole_sequence) {
  const at::Tensor& sums = whole_sequence ? policy.all_logps : policy.logps;          // (S)
  const at::Tensor& counts = whole_sequence ? policy.all_tokens : policy.num_tokens;  // (S)
  at::Tensor tokens = counts.slice(0, 0, num_pairs).sum().to(at::kFloat).clamp_min(1.0);
  return -sums.slice(0, 0, num_pairs).sum() / tokens;
}

}  // namespace

BatchResult Objective::ref_free_loss_of(const MicroBatch& batch) {
  const RefFreeLossConfig& config = ref_free_;
  const TokenBatch& tokens = batch.tokens;
  check_preference_batch(tokens);
  const int64_t p = tokens.num_pairs;
  LogProbOptions options;
  options.token_stats = true;
  options.every_token = config.nll_over_whole_sequence();
  options.position_logit_means = true;
  SequenceLogProbs policy = sequence_pass(*model_, tokens, options);  // the only pass

  at::Tensor logps = policy.logps;  // (S) summed over the completion tokens
  if (config.averages_log_probs()) logps = logps / policy.num_tokens.to(logps.dtype());
  at::Tensor nll;
  if (config.needs_nll()) nll = chosen_nll(policy, p, config.nll_over_whole_sequence());
  RefFreeLossOutput loss = ref_free_loss(config, logps.slice(0, 0, p), logps.slice(0, p), nll);

  BatchResult result;
  result.loss = loss.loss;
  result.loss_value = result.loss.item<double>();
  result.metrics = ref_free_batch_metrics(config, loss, logps.detach(), policy, p);
  result.scored_tokens = policy.num_tokens.sum().item<int64_t>();
  const at::Tensor& nll_counts =
      config.nll_over_whole_sequence() ? policy.all_tokens : policy.num_tokens;  // (S)
  result.metric_weights =
      metric_weights(result.metrics, static_cast<double>(p),
                     {{"logits/chosen", policy.num_positions.slice(0, 0, p).sum().item<double>()},
                      {"logits/rejected", policy.num_positions.slice(0, p).sum().item<double>()},
                      {"nll_loss", nll_counts.slice(0, 0, p).sum().item<double>()}});
  result.pairs.loss = loss.loss.detach();  // the per-pair view dpo eval --per-example writes
  result.pairs.per_pair_loss = loss.per_pair_loss;
  result.pairs.chosen_rewards = loss.chosen_rewards;
  result.pairs.rejected_rewards = loss.rejected_rewards;
  result.logps.chosen_logps = logps.slice(0, 0, p).detach();
  result.logps.rejected_logps = logps.slice(0, p).detach();
  result.logps.chosen_tokens = policy.num_tokens.slice(0, 0, p);
  result.logps.rejected_tokens = policy.num_tokens.slice(0, p);
  return result;
}

}  // namespace dpo
