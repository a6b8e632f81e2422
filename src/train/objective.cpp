// The training step, whole: for each micro-batch the reference pass (adapters off, a frozen copy
// or the cache), the policy pass, the loss of the DPO family (or SFT's token NLL), and the
// backward pass of the scaled loss. Arithmetic follows TRL's DPOTrainer / SFTTrainer and
// transformers' gradient accumulation. Shape legend: N rows, T time, C hidden, P pairs, S = 2P.
#include "train/objective.h"

#include <cmath>

#include "train/flos.h"
#include "train/metrics.h"
#include "train/preference.h"

namespace dpo {

PreferenceForward preference_forward(const LlamaModel& model, const TokenBatch& batch,
                                     const LogProbOptions& options, Reference& reference,
                                     const BatchRows& rows) {
  check_preference_batch(batch);
  RefLogps reference_logps = reference.logps(model, batch, options, rows);  // no-grad
  PreferenceForward out;
  out.policy = sequence_pass(model, batch, options);
  out.logps = pair_logps(out.policy, reference_logps, batch.num_pairs);
  return out;
}

Objective::Objective(const LlamaModel& model, Kind kind, LossConfig loss,
                     std::optional<Reference> reference)
    : model_(&model), kind_(kind), loss_(std::move(loss)), reference_(std::move(reference)) {}

Objective Objective::preference(const LlamaModel& model, LossConfig loss, Reference reference) {
  return Objective(model, Kind::kPreference, std::move(loss), std::move(reference));
}

Objective Objective::reference_free(const LlamaModel& model, RefFreeLossConfig loss) {
  loss.validate();
  Objective objective(model, Kind::kReferenceFree, LossConfig(), std::nullopt);
  objective.ref_free_ = loss;
  return objective;
}

Objective Objective::kto(const LlamaModel& model, KtoLossConfig loss, Reference reference,
                         KtoLabels desirable) {
  loss.validate();
  Objective objective(model, Kind::kKto, LossConfig(), std::move(reference));
  objective.kto_ = loss;
  objective.kto_labels_ = std::move(desirable);
  return objective;
}

Objective Objective::sft(const LlamaModel& model) {
  return Objective(model, Kind::kSft, LossConfig(), std::nullopt);
}

BatchResult Objective::loss(const MicroBatch& batch, double sft_token_normalizer) {
  switch (kind_) {
    case Kind::kPreference:
      return preference_loss_of(batch);
    case Kind::kReferenceFree:
      return ref_free_loss_of(batch);
    case Kind::kKto:
      return kto_loss_of(batch);
    case Kind::kSft:
      break;
  }
  return sft_loss_of(batch, sft_token_normalizer);
}

BatchResult Objective::preference_loss_of(const MicroBatch& batch) {
  const LogProbOptions options = logprob_options_for(loss_, /*token_stats=*/true);
  PreferenceForward forward =
      preference_forward(*model_, batch.tokens, options, *reference_, batch.rows);
  BatchResult result;
  result.pairs = preference_loss(loss_, forward.logps, &bco_state_);
  result.logps = forward.logps;
  result.loss = result.pairs.loss;
  result.loss_value = result.loss.item<double>();
  result.metrics =
      preference_batch_metrics(result.pairs, forward.logps, forward.policy, batch.tokens.num_pairs);
  result.scored_tokens = forward.policy.num_tokens.sum().item<int64_t>();
  const int64_t p = batch.tokens.num_pairs;
  const double chosen = forward.policy.num_tokens.slice(0, 0, p).sum().item<double>();
  const double rejected = forward.policy.num_tokens.slice(0, p).sum().item<double>();
  result.metric_weights = metric_weights(result.metrics, static_cast<double>(p),
                                         {{"logits/chosen", chosen},
                                          {"mean_token_accuracy", chosen},
                                          {"nll_loss", chosen},
                                          {"logits/rejected", rejected},
                                          {"entropy", chosen + rejected}});
  return result;
}

BatchResult Objective::sft_loss_of(const MicroBatch& batch, double token_normalizer) {
  LogProbOptions options;
  options.token_stats = true;
  SequenceLogProbs seq = sequence_pass(*model_, batch.tokens, options);
  const double tokens = static_cast<double>(seq.num_tokens.sum().item<int64_t>());
  const double normalizer = token_normalizer > 0 ? token_normalizer : std::max(tokens, 1.0);
  BatchResult result;
  result.loss = -seq.token_logps.to(at::kDouble).sum() / normalizer;  // ()
  result.loss_value = result.loss.item<double>();
  result.scored_tokens = static_cast<int64_t>(tokens);
  const double per_token = std::max(tokens, 1.0);
  result.metrics["entropy"] = seq.entropy_sum.sum().item<double>() / per_token;
  result.metrics["mean_token_accuracy"] = seq.correct_tokens.sum().item<double>() / per_token;
  result.metric_weights = metric_weights(result.metrics, tokens, {});
  return result;
}

AccumulatedStep Objective::accumulate(const std::vector<MicroBatch>& batches,
                                      const StepShare& share) {
  double sft_tokens = 0.0;  // the step's completion tokens: SFT's loss normalizer
  if (!is_pairwise()) {
    for (const MicroBatch& batch : batches)
      sft_tokens += static_cast<double>(scored_token_count(batch.tokens));
    if (share.sum_over_ranks) sft_tokens = share.sum_over_ranks(sft_tokens);
  }
  const double micro_batches = static_cast<double>(
      share.micro_batches > 0 ? share.micro_batches : static_cast<int64_t>(batches.size()));
  AccumulatedStep out;
  for (size_t i = 0; i < batches.size(); ++i) {
    const MicroBatch& batch = batches[i];
    BatchResult result = loss(batch, sft_tokens);
    out.trl_input_positions += trl_input_positions(batch.tokens, kind_ == Kind::kKto);
    double scale = 1.0;
    if (is_pairwise()) {
      scale = (share.weights.empty() ? 1.0 : share.weights[i]) / micro_batches;
    } else {  // the batch's own per-token loss, for the log
      result.metrics["loss"] =
          result.loss_value * sft_tokens / std::max<double>(1, result.scored_tokens);
      result.metric_weights["loss"] = static_cast<double>(result.scored_tokens);
    }
    if (!std::isfinite(result.loss_value)) {
      out.finite = false;
      out.loss = result.loss_value;  // reported in the warning; the step is skipped
      continue;
    }
    (result.loss * scale).backward();
    out.loss += result.loss_value * scale;
    // a shared prompt counts for both of its sequences, as TRL counts them
    out.tokens += result.trained_tokens >= 0
                      ? result.trained_tokens
                      : batch.tokens.real_tokens + batch.tokens.shared_tokens;
    out.positions += batch.tokens.input.input_ids.numel();
    out.real_positions += batch.tokens.real_tokens;
    out.shared_positions += batch.tokens.shared_tokens;
    out.batch_metrics.push_back(std::move(result.metrics));
    out.batch_metric_weights.push_back(std::move(result.metric_weights));
  }
  return out;
}

int64_t scored_token_count(const TokenBatch& batch) {
  return batch.completion_mask.sum().item<int64_t>();
}

}  // namespace dpo
