// Policy and reference log-probs of a preference batch.
// Shape legend: N rows, T time, C hidden, P pairs, S = 2P sequences.
#include "train/preference.h"

#include <optional>

#include "util/error.h"

namespace dpo {

namespace {

SequenceLogProbs run_model(const LlamaModel& model, const TokenBatch& batch,
                           const LogProbOptions& options) {
  at::Tensor hidden = model.forward_hidden(batch.input);  // (N, T, C)
  return sequence_log_probs(hidden, model.lm_head_weight(), batch, options);
}

void check_preference_batch(const TokenBatch& batch) {
  DPO_CHECK(batch.num_pairs > 0 && batch.num_sequences == 2 * batch.num_pairs,
            "a preference batch has 2P sequences (got {} sequences, {} pairs)", batch.num_sequences,
            batch.num_pairs);
}

}  // namespace

LogProbOptions logprob_options_for(const LossConfig& config, bool token_stats) {
  LogProbOptions options;
  options.ld_alpha = config.ld_alpha;
  options.wpo = config.use_weighting;
  options.token_stats = token_stats;
  return options;
}

ReferenceLogps reference_log_probs(const LlamaModel& model, const TokenBatch& batch,
                                   const LogProbOptions& options, const ReferenceSource& source) {
  check_preference_batch(batch);
  const int64_t p = batch.num_pairs;
  if (source.precomputed) {
    DPO_CHECK(source.precomputed->chosen.size(0) == p && source.precomputed->rejected.size(0) == p,
              "precomputed reference log-probs do not match the batch ({} pairs)", p);
    return *source.precomputed;
  }
  LogProbOptions reference_options;  // log-probs only
  reference_options.ld_alpha = options.ld_alpha;
  reference_options.chunk_tokens = options.chunk_tokens;
  at::NoGradGuard no_grad;
  SequenceLogProbs reference;
  if (source.reference_model) {
    reference = run_model(*source.reference_model, batch, reference_options);
  } else if (source.lora) {
    auto adapters_off = source.lora->disabled();
    reference = run_model(model, batch, reference_options);
  } else {
    reference = run_model(model, batch, reference_options);
  }
  const at::Tensor& logps = reference.loss_logps();
  return {logps.slice(0, 0, p).detach(), logps.slice(0, p).detach()};
}

PreferenceForward preference_forward(const LlamaModel& model, const TokenBatch& batch,
                                     const LogProbOptions& options, const ReferenceSource& source) {
  check_preference_batch(batch);
  const int64_t p = batch.num_pairs;
  ReferenceLogps reference = reference_log_probs(model, batch, options, source);
  PreferenceForward out;
  out.policy = run_model(model, batch, options);
  const at::Tensor& logps = out.policy.loss_logps();  // (S)
  PreferenceLogps& l = out.logps;
  l.chosen_logps = logps.slice(0, 0, p);
  l.rejected_logps = logps.slice(0, p);
  l.ref_chosen_logps = reference.chosen.to(logps.device());
  l.ref_rejected_logps = reference.rejected.to(logps.device());
  l.chosen_tokens = out.policy.num_tokens.slice(0, 0, p);
  l.rejected_tokens = out.policy.num_tokens.slice(0, p);
  l.chosen_logps_plain = out.policy.logps.slice(0, 0, p);
  if (out.policy.wpo_logps.defined()) {
    l.chosen_wpo_logps = out.policy.wpo_logps.slice(0, 0, p);
    l.rejected_wpo_logps = out.policy.wpo_logps.slice(0, p);
  }
  return out;
}

}  // namespace dpo
