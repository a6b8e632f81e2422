// Shape legend: N rows, T time, C hidden, P pairs, S = 2P sequences.
#include "train/preference.h"

#include "util/error.h"

namespace dpo {

void check_preference_batch(const TokenBatch& batch) {
  DPO_CHECK(batch.num_pairs > 0 && batch.num_sequences == 2 * batch.num_pairs,
            "a preference batch has 2P sequences (got {} sequences, {} pairs)", batch.num_sequences,
            batch.num_pairs);
}

SequenceLogProbs sequence_pass(const LlamaModel& model, const TokenBatch& batch,
                               const LogProbOptions& options) {
  at::Tensor hidden = model.forward_hidden(batch.input);  // (N, T, C)
  LogProbOptions with_cap = options;
  with_cap.logit_softcap = model.config().final_logit_softcapping;  // the model's (gemma2)
  return sequence_log_probs(hidden, model.lm_head_weight(), batch, with_cap);
}

LogProbOptions logprob_options_for(const LossConfig& config, bool token_stats) {
  LogProbOptions options;
  options.ld_alpha = config.ld_alpha;
  options.wpo = config.use_weighting;
  options.token_stats = token_stats;
  return options;
}

PreferenceLogps pair_logps(const SequenceLogProbs& policy, const RefLogps& reference,
                           int64_t num_pairs) {
  const int64_t p = num_pairs;
  const at::Tensor& logps = policy.loss_logps();  // (S)
  PreferenceLogps l;
  l.chosen_logps = logps.slice(0, 0, p);
  l.rejected_logps = logps.slice(0, p);
  l.ref_chosen_logps = reference.chosen.to(logps.device());
  l.ref_rejected_logps = reference.rejected.to(logps.device());
  l.chosen_tokens = policy.num_tokens.slice(0, 0, p);
  l.rejected_tokens = policy.num_tokens.slice(0, p);
  l.chosen_logps_plain = policy.logps.slice(0, 0, p);
  if (policy.wpo_logps.defined()) {
    l.chosen_wpo_logps = policy.wpo_logps.slice(0, 0, p);
    l.rejected_wpo_logps = policy.wpo_logps.slice(0, p);
  }
  return l;
}

}  // namespace dpo
