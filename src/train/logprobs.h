// Per-sequence completion log-probs from final hidden states, in float32, chunked over positions.
// Shape legend: N rows, T time, C hidden, V vocab, M scored tokens, S sequences, P pairs.
//
// A scored token sits at position t of a row (completion_mask[t] = 1); its log-prob is
// log_softmax(lm_head(hidden[j]))[input_ids[t]] with j = batch.logit_index[t] when the batch has
// one (prompt-sharing rows predict the first rejected token from the last prompt position), else
// j = t - 1. Only the M predicting hidden states are gathered, and the (chunk, V) float32 logits of
// `chunk_tokens` of them at a time exist at once, in the forward pass and again in the backward
// pass (a custom autograd function recomputes them instead of keeping every chunk's softmax alive
// until backward). Gradients flow to the hidden states (and
// to the lm_head weight when it requires grad).
#pragma once
#include <ATen/ATen.h>

#include <optional>

#include "data/batch.h"

namespace dpo {

struct LogProbOptions {
  // LD-DPO (preference batches, S = 2P): per pair, tokens past the shorter completion's length
  // count ld_alpha times: ld_logps = shared + ld_alpha * tail.
  std::optional<double> ld_alpha;
  bool token_stats = false;  // mean logit, entropy and argmax hits per sequence (detached)
  bool wpo = false;          // WPO sums (detached)
  // Score every token that has a predecessor in its sequence, prompt included (ORPO's NLL):
  // all_logps / all_tokens. Every other output still covers the completion tokens only.
  bool every_token = false;
  // Per sequence, the mean over the vocabulary of the logits summed over every position of the
  // sequence (CPO's and ORPO's logits/chosen, logits/rejected): position_logit_mean_sum.
  bool position_logit_means = false;
  int64_t chunk_tokens = 512;  // scored tokens whose (chunk, V) logits are computed at once
  // > 0: the logits soft-capped to cap * tanh(logits / cap) first (gemma2's
  // final_logit_softcapping; the model's own, set by sequence_pass).
  double logit_softcap = 0;
};

struct SequenceLogProbs {
  at::Tensor logps;           // (S) float32, differentiable: sum of completion-token log-probs
  at::Tensor ld_logps;        // (S) float32 shared + ld_alpha * tail; undefined without ld_alpha
  at::Tensor num_tokens;      // (S) int64 completion tokens
  at::Tensor token_logps;     // (M) float32, differentiable, row-major order of the scored tokens
  at::Tensor token_sequence;  // (M) int64 sequence of each scored token
  // token_stats (float64, detached), each summed over the sequence's completion tokens:
  at::Tensor logit_mean_sum;  // (S) mean over the vocabulary of the logits
  at::Tensor entropy_sum;     // (S) entropy of the predicted distribution
  at::Tensor correct_tokens;  // (S) argmax of the logits == the token
  // wpo (float64, detached): sum of log p_t - log sum_v p_v^2.
  at::Tensor wpo_logps;  // (S)
  // every_token: sum of the log-probs of every token with a predecessor (prompt + completion).
  at::Tensor all_logps;   // (S) float32, differentiable
  at::Tensor all_tokens;  // (S) int64
  // position_logit_means (float64, detached): sum over the sequence's positions of the mean logit.
  at::Tensor position_logit_mean_sum;  // (S)
  at::Tensor num_positions;            // (S) int64 tokens of the sequence

  // The logps the losses use: ld_logps when defined, else logps.
  const at::Tensor& loss_logps() const { return ld_logps.defined() ? ld_logps : logps; }
};

// hidden (N, T, C) any float dtype; lm_head_weight (V, C); batch: completion_mask,
// sequence_index, logit_index (optional), num_sequences, num_pairs (for ld_alpha), input_ids.
SequenceLogProbs sequence_log_probs(const at::Tensor& hidden, const at::Tensor& lm_head_weight,
                                    const TokenBatch& batch, const LogProbOptions& options);

// The log-prob of `labels` under softmax(hidden @ weight^T) in float32, chunked (see above).
// hidden (M, C), weight (V, C), labels (M) int64 -> (M) float32. With `stats` non-null, also
// fills (M, 4) float64 detached: mean logit, entropy, argmax hit, WPO aligned log-prob.
// logit_softcap > 0: softmax(cap * tanh(hidden @ weight^T / cap)) instead.
at::Tensor chunked_token_log_probs(const at::Tensor& hidden, const at::Tensor& weight,
                                   const at::Tensor& labels, int64_t chunk_tokens,
                                   at::Tensor* stats = nullptr, double logit_softcap = 0);

}  // namespace dpo
