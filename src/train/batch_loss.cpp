#include "train/batch_loss.h"

#include "train/logprobs.h"
#include "train/metrics.h"

namespace dpo {

BatchResult preference_batch_loss(const LossSetup& setup, const TokenBatch& batch,
                                  const ReferenceLogps* precomputed) {
  ReferenceSource source;
  source.precomputed = precomputed;
  source.reference_model = setup.reference_model;
  source.lora = setup.lora;
  if (!precomputed && setup.reference_forwards) ++*setup.reference_forwards;

  LogProbOptions options = logprob_options_for(setup.loss, /*token_stats=*/true);
  PreferenceForward forward = preference_forward(*setup.model, batch, options, source);
  LossOutput out = preference_loss(setup.loss, forward.logps, setup.bco_state);

  BatchResult result;
  result.loss = out.loss;
  result.loss_value = out.loss.item<double>();
  result.metrics = preference_batch_metrics(out, forward.logps, forward.policy, batch.num_pairs);
  result.scored_tokens = forward.policy.num_tokens.sum().item<int64_t>();
  return result;
}

int64_t scored_token_count(const TokenBatch& batch) {
  return batch.completion_mask.sum().item<int64_t>();
}

BatchResult sft_batch_loss(const LossSetup& setup, const TokenBatch& batch,
                           double token_normalizer) {
  LogProbOptions options;
  options.token_stats = true;
  at::Tensor hidden = setup.model->forward_hidden(batch.input);  // (N, T, C)
  SequenceLogProbs seq = sequence_log_probs(hidden, setup.model->lm_head_weight(), batch, options);
  const double tokens = static_cast<double>(seq.num_tokens.sum().item<int64_t>());
  const double normalizer = token_normalizer > 0 ? token_normalizer : std::max(tokens, 1.0);

  BatchResult result;
  result.loss = -seq.token_logps.to(at::kDouble).sum() / normalizer;  // ()
  result.loss_value = result.loss.item<double>();
  result.scored_tokens = static_cast<int64_t>(tokens);
  const double per_token = std::max(tokens, 1.0);
  result.metrics["entropy"] = seq.entropy_sum.sum().item<double>() / per_token;
  result.metrics["mean_token_accuracy"] = seq.correct_tokens.sum().item<double>() / per_token;
  return result;
}

}  // namespace dpo
