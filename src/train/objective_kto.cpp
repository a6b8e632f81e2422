// The batch step of KTO (TRL 1.16's KTOTrainer._compute_loss): a batch of train/kto_data.h's
// pairs (each example's sequence, then its KL sequence), one reference pass and one policy pass
// over both, the loss of train/kto_losses.h and TRL's metrics. The KL sequences carry no
// gradient: the KL estimate is detached, as TRL computes it under no_grad.
// Shape legend: B examples, S = 2B sequences (examples 0..B-1, their KL sequences B..2B-1).
#include "train/metrics.h"
#include "train/objective.h"
#include "train/preference.h"
#include "util/error.h"

namespace dpo {

namespace {

// The labels of the batch's examples: (B) bool.
at::Tensor batch_labels(const std::vector<uint8_t>& labels, const BatchRows& rows) {
  std::vector<uint8_t> picked;
  for (int64_t position : rows.positions) {
    DPO_CHECK(position >= 0 && position < static_cast<int64_t>(labels.size()),
              "KTO: no label for example {} of the {} split", position,
              rows.split == Split::kTrain ? "train" : "eval");
    picked.push_back(labels[static_cast<size_t>(position)]);
  }
  return at::tensor(at::ArrayRef<uint8_t>(picked), at::kByte).to(at::kBool);
}

// Tokens of the examples' own sequences (prompt + completion), not of their KL sequences.
int64_t example_tokens(const TokenBatch& batch) {
  at::Tensor sequence = batch.sequence_index.reshape({-1});
  return sequence.ge(0).logical_and(sequence.lt(batch.num_pairs)).sum().item<int64_t>();
}

}  // namespace

BatchResult Objective::kto_loss_of(const MicroBatch& batch) {
  const TokenBatch& tokens = batch.tokens;
  check_preference_batch(tokens);
  const int64_t b = tokens.num_pairs;
  DPO_CHECK(static_cast<int64_t>(batch.rows.positions.size()) == b,
            "KTO batches name their examples (rows)");
  const std::vector<uint8_t>& labels =
      batch.rows.split == Split::kTrain ? kto_labels_.train : kto_labels_.eval;
  at::Tensor desirable = batch_labels(labels, batch.rows);  // (B)

  LogProbOptions options;
  options.token_stats = true;
  PreferenceForward forward = preference_forward(*model_, tokens, options, *reference_, batch.rows);
  const PreferenceLogps& l = forward.logps;  // chosen: the examples; rejected: their KL sequences
  KtoLossOutput loss = kto_loss(kto_, l.chosen_logps, l.ref_chosen_logps,
                                kto_.uses_kl() ? l.rejected_logps : at::Tensor(),
                                kto_.uses_kl() ? l.ref_rejected_logps : at::Tensor(), desirable);

  BatchResult result;
  result.loss = loss.loss;
  result.loss_value = result.loss.item<double>();
  result.metrics = kto_batch_metrics(loss, l.chosen_logps.detach(), forward.policy,
                                     desirable.to(l.chosen_logps.device()), b);
  result.scored_tokens = forward.policy.num_tokens.slice(0, 0, b).sum().item<int64_t>();
  result.trained_tokens = example_tokens(tokens);
  result.pairs.loss = loss.loss.detach();  // per example (dpo eval --per-example)
  result.pairs.per_pair_loss = loss.per_example_loss;
  result.pairs.chosen_rewards = loss.rewards;
  result.pairs.rejected_rewards = at::zeros_like(loss.rewards);
  result.logps = l;
  return result;
}

}  // namespace dpo
