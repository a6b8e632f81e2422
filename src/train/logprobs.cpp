// Chunked float32 log-probs of completion tokens, with a custom backward that recomputes each
// chunk's softmax. Shape legend: M scored tokens, m tokens of one chunk, C hidden, V vocab,
// N rows, T time, S sequences, P pairs.
#include "train/logprobs.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <utility>

#include "util/error.h"

namespace dpo {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Columns of the detached per-token statistics.
enum StatColumn { kLogitMean = 0, kEntropy = 1, kHit = 2, kWpo = 3, kNumStats = 4 };

// hidden @ weight^T in float32, soft-capped to cap * tanh(z / cap) when cap > 0 (gemma2's
// final_logit_softcapping). (m, C) -> (m, V)
at::Tensor chunk_logits(const at::Tensor& hidden, const at::Tensor& weight_f32, double cap) {
  at::Tensor z = at::matmul(hidden.to(at::kFloat), weight_f32.t());
  return cap > 0 ? at::tanh(z / cap) * cap : z;
}

// Forward of one chunk: fills the log-probs of the labels (and the statistics).
void forward_chunk(const at::Tensor& hidden, const at::Tensor& weight_f32, const at::Tensor& labels,
                   double cap, at::Tensor out, at::Tensor stats) {
  at::Tensor logits = chunk_logits(hidden, weight_f32, cap);  // (m, V)
  at::Tensor lse = at::logsumexp(logits, -1);                 // (m)
  at::Tensor label_logits = logits.gather(1, labels.unsqueeze(1)).squeeze(1);
  at::Tensor logps = label_logits - lse;  // (m)
  out.copy_(logps);
  if (!stats.defined()) return;
  at::Tensor probs = at::softmax(logits, -1);                           // (m, V)
  at::Tensor entropy = lse - (probs * logits).sum(-1);                  // -sum p log p
  at::Tensor log_sum_p2 = at::logsumexp(2.0 * logits, -1) - 2.0 * lse;  // log sum_v p_v^2
  stats.select(1, kLogitMean).copy_(logits.mean(-1));
  stats.select(1, kEntropy).copy_(entropy);
  stats.select(1, kHit).copy_(logits.argmax(-1).eq(labels));
  stats.select(1, kWpo).copy_(logps - log_sum_p2);
}

// log_softmax(hidden @ weight^T)[labels], chunked over rows in both passes.
struct ChunkedLogProbFunction : public torch::autograd::Function<ChunkedLogProbFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& hidden,
                               const at::Tensor& weight, const at::Tensor& labels, int64_t chunk,
                               bool want_stats, double cap) {
    const int64_t num_tokens = hidden.size(0);
    at::Tensor weight_f32 = weight.to(at::kFloat);  // (V, C)
    at::Tensor out = at::empty({num_tokens}, hidden.options().dtype(at::kFloat));
    at::Tensor stats =
        at::zeros({want_stats ? num_tokens : 0, kNumStats}, hidden.options().dtype(at::kDouble));
    for (int64_t start = 0; start < num_tokens; start += chunk) {
      int64_t end = std::min(start + chunk, num_tokens);
      forward_chunk(hidden.slice(0, start, end), weight_f32, labels.slice(0, start, end), cap,
                    out.slice(0, start, end),
                    want_stats ? stats.slice(0, start, end) : at::Tensor());
    }
    ctx->save_for_backward({hidden, weight, labels});
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["cap"] = cap;
    ctx->mark_non_differentiable({stats});
    return {out, stats};
  }

  // d logp[label] / d logits = onehot(label) - softmax(logits); through the soft-cap
  // d logits / d z = 1 - (logits / cap)^2.
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& hidden = saved[0];  // (M, C)
    const at::Tensor& weight = saved[1];  // (V, C)
    const at::Tensor& labels = saved[2];  // (M)
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const double cap = ctx->saved_data["cap"].toDouble();
    const bool need_hidden = ctx->needs_input_grad(0);
    const bool need_weight = ctx->needs_input_grad(1);
    at::Tensor grad_logps = grad_outputs[0];  // (M)
    at::Tensor grad_hidden, grad_weight;
    if (!grad_logps.defined() || (!need_hidden && !need_weight))
      return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    at::Tensor weight_f32 = weight.to(at::kFloat);
    if (need_hidden) grad_hidden = at::empty_like(hidden);
    if (need_weight) grad_weight = at::zeros(weight.sizes(), weight.options().dtype(at::kFloat));
    grad_logps = grad_logps.to(at::kFloat);
    const int64_t num_tokens = hidden.size(0);
    for (int64_t start = 0; start < num_tokens; start += chunk) {
      int64_t end = std::min(start + chunk, num_tokens);
      at::Tensor h = hidden.slice(0, start, end).to(at::kFloat);        // (m, C)
      at::Tensor g = grad_logps.slice(0, start, end).unsqueeze(1);      // (m, 1)
      at::Tensor logits = chunk_logits(h, weight_f32, cap);             // (m, V)
      at::Tensor grad_logits = at::softmax(logits, -1).mul_(g).neg_();  // (m, V)
      grad_logits.scatter_add_(1, labels.slice(0, start, end).unsqueeze(1), g);
      if (cap > 0) grad_logits.mul_(1.0 - (logits / cap).pow(2));  // d/dz of the soft-cap
      if (need_hidden) grad_hidden.slice(0, start, end).copy_(at::matmul(grad_logits, weight_f32));
      if (need_weight) grad_weight.add_(at::matmul(grad_logits.t(), h));
    }
    if (need_weight) grad_weight = grad_weight.to(weight.scalar_type());
    return {grad_hidden, grad_weight, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// 0-based rank of each scored token inside its sequence (tokens of a sequence in row-major order).
at::Tensor rank_in_sequence(const at::Tensor& sequence, const at::Tensor& counts) {
  auto [sorted, order] = at::sort(sequence, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  at::Tensor first = at::cumsum(counts, 0) - counts;  // (S) start of each sequence in `sorted`
  at::Tensor sorted_rank =
      at::arange(sequence.size(0), sequence.options()) - first.index_select(0, sorted);
  at::Tensor rank = at::empty_like(sequence);
  rank.index_put_({order}, sorted_rank);
  return rank;
}

// LD-DPO: per scored token, 1 inside the shared length of its pair, ld_alpha past it.
at::Tensor ld_weights(const at::Tensor& sequence, const at::Tensor& counts, int64_t num_pairs,
                      double ld_alpha) {
  DPO_CHECK(num_pairs > 0 && counts.size(0) == 2 * num_pairs,
            "ld_alpha needs a preference batch (2P sequences; got {} sequences, {} pairs)",
            counts.size(0), num_pairs);
  at::Tensor shared =
      at::minimum(counts.slice(0, 0, num_pairs), counts.slice(0, num_pairs));   // (P)
  at::Tensor shared_len = at::cat({shared, shared}).index_select(0, sequence);  // (M)
  at::Tensor in_shared = rank_in_sequence(sequence, counts).lt(shared_len);
  return at::where(in_shared, at::ones({}, sequence.options().dtype(at::kFloat)),
                   at::full({}, ld_alpha, sequence.options().dtype(at::kFloat)));
}

at::Tensor sum_per_sequence(const at::Tensor& values, const at::Tensor& sequence,
                            int64_t num_sequences) {
  return at::zeros({num_sequences}, values.options()).index_add(0, sequence, values);
}

// Prompt sharing (TokenBatch::shared_sequence_index): the tokens at `positions` (M) that also
// belong to a second sequence, as indices into `positions`, and that sequence of each: (M'), (M').
std::pair<at::Tensor, at::Tensor> shared_tokens(const TokenBatch& batch,
                                                const at::Tensor& positions) {
  at::Tensor also = batch.shared_sequence_index.reshape({-1}).index_select(0, positions);  // (M)
  at::Tensor shared = at::nonzero(also.ge(0)).squeeze(1);                                  // (M')
  return {shared, also.index_select(0, shared)};
}

}  // namespace

at::Tensor chunked_token_log_probs(const at::Tensor& hidden, const at::Tensor& weight,
                                   const at::Tensor& labels, int64_t chunk_tokens,
                                   at::Tensor* stats, double logit_softcap) {
  DPO_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
            "chunked_token_log_probs: hidden (M, C) and weight (V, C) expected");
  auto outputs = ChunkedLogProbFunction::apply(
      hidden, weight, labels, std::max<int64_t>(1, chunk_tokens), stats != nullptr, logit_softcap);
  if (stats) *stats = outputs[1];
  return outputs[0];
}

namespace {

// Flat positions of the tokens to score and the flat position of the hidden state predicting each:
// the completion tokens, or with `every_token` each token with a predecessor in its sequence.
std::pair<at::Tensor, at::Tensor> scored_positions(const TokenBatch& batch, int64_t time,
                                                   bool every_token) {
  at::Tensor mask = batch.completion_mask.to(at::kBool);
  if (every_token) {
    DPO_CHECK(batch.logit_index.defined(), "scoring every token needs the batch's logit_index");
    mask = batch.logit_index.ge(0);
  }
  at::Tensor positions = at::nonzero(mask.reshape({-1})).squeeze(1);  // (M)
  // Flat position of the hidden state that predicts each scored token: logit_index when the batch
  // gives it, else the previous position of the row.
  if (batch.logit_index.defined()) {
    at::Tensor in_row = batch.logit_index.reshape({-1}).index_select(0, positions);
    DPO_CHECK(positions.numel() == 0 ||
                  (in_row.min().item<int64_t>() >= 0 && in_row.max().item<int64_t>() < time),
              "logit_index of a completion token outside 0..{}", time - 1);
    return {positions, positions - positions.remainder(time) + in_row};
  }
  DPO_CHECK(positions.remainder(time).gt(0).all().item<bool>(),
            "a completion token at position 0 of a row has no preceding logits");
  return {positions, positions - 1};
}

// Mean over the vocabulary of each position's logits: hidden . mean_v(W_v), or with a soft-cap
// the capped logits' mean, `chunk` positions at a time. h (Q, C) -> (Q) float32.
at::Tensor mean_logits(const at::Tensor& h, const at::Tensor& lm_head_weight, double cap,
                       int64_t chunk) {
  at::Tensor weight_f32 = lm_head_weight.detach().to(at::kFloat);  // (V, C)
  if (!(cap > 0)) return at::matmul(h.to(at::kFloat), weight_f32.mean(0));
  at::Tensor means = at::empty({h.size(0)}, h.options().dtype(at::kFloat));
  for (int64_t start = 0; start < h.size(0); start += chunk) {
    int64_t end = std::min(start + chunk, h.size(0));
    means.slice(0, start, end)
        .copy_(chunk_logits(h.slice(0, start, end), weight_f32, cap).mean(-1));
  }
  return means;
}

// Sum per sequence, over every position of it, of the mean logit over the vocabulary: (S)
// float64, detached; `counts` receives the positions per sequence.
at::Tensor position_logit_mean_sums(const at::Tensor& hidden, const at::Tensor& lm_head_weight,
                                    const TokenBatch& batch, const LogProbOptions& options,
                                    at::Tensor& counts) {
  const int64_t channels = hidden.size(2);
  at::NoGradGuard no_grad;
  at::Tensor flat_sequence = batch.sequence_index.reshape({-1});                      // (N*T)
  at::Tensor positions = at::nonzero(flat_sequence.ge(0)).squeeze(1);                 // (Q)
  at::Tensor sequence = flat_sequence.index_select(0, positions);                     // (Q)
  at::Tensor h = hidden.detach().reshape({-1, channels}).index_select(0, positions);  // (Q, C)
  at::Tensor means = mean_logits(h, lm_head_weight, options.logit_softcap,
                                 std::max<int64_t>(1, options.chunk_tokens))
                         .to(at::kDouble);  // (Q)
  counts = at::bincount(sequence, {}, batch.num_sequences).to(at::kLong);
  at::Tensor sums = sum_per_sequence(means, sequence, batch.num_sequences);
  if (batch.shared_sequence_index.defined()) {  // a shared prompt position counts for both
    auto [shared, also] = shared_tokens(batch, positions);
    counts += at::bincount(also, {}, batch.num_sequences).to(at::kLong);
    sums += sum_per_sequence(means.index_select(0, shared), also, batch.num_sequences);
  }
  return sums;
}

}  // namespace

SequenceLogProbs sequence_log_probs(const at::Tensor& hidden, const at::Tensor& lm_head_weight,
                                    const TokenBatch& batch, const LogProbOptions& options) {
  const int64_t rows = hidden.size(0), time = hidden.size(1), channels = hidden.size(2);
  const int64_t num_sequences = batch.num_sequences;
  DPO_CHECK(batch.completion_mask.sizes() == at::IntArrayRef({rows, time}),
            "completion_mask shape does not match the hidden states");
  DPO_CHECK(!(options.every_token && options.ld_alpha),
            "every_token does not combine with ld_alpha");
  auto [positions, predictors] = scored_positions(batch, time, options.every_token);    // (M), (M)
  at::Tensor labels = batch.input.input_ids.reshape({-1}).index_select(0, positions);   // (M)
  at::Tensor sequence = batch.sequence_index.reshape({-1}).index_select(0, positions);  // (M)
  DPO_CHECK(positions.numel() == 0 || (sequence.min().item<int64_t>() >= 0 &&
                                       sequence.max().item<int64_t>() < num_sequences),
            "sequence_index of a completion token outside 0..{}", num_sequences - 1);
  at::Tensor previous_hidden =
      hidden.reshape({rows * time, channels}).index_select(0, predictors);  // (M, C)

  SequenceLogProbs out;
  at::Tensor stats;
  const bool want_stats = options.token_stats || options.wpo;
  at::Tensor token_logps =
      chunked_token_log_probs(previous_hidden, lm_head_weight, labels, options.chunk_tokens,
                              want_stats ? &stats : nullptr, options.logit_softcap);
  if (options.every_token) {  // the whole sequences' sums, then the completion tokens only
    out.all_logps = sum_per_sequence(token_logps, sequence, num_sequences);
    out.all_tokens = at::bincount(sequence, {}, num_sequences).to(at::kLong);
    if (batch.shared_sequence_index.defined()) {  // a shared prompt token counts for both
      auto [shared, also] = shared_tokens(batch, positions);
      out.all_logps = out.all_logps +
                      sum_per_sequence(token_logps.index_select(0, shared), also, num_sequences);
      out.all_tokens += at::bincount(also, {}, num_sequences).to(at::kLong);
    }
    at::Tensor completion =
        at::nonzero(batch.completion_mask.to(at::kBool).reshape({-1}).index_select(0, positions))
            .squeeze(1);  // (M') indices into the scored tokens
    token_logps = token_logps.index_select(0, completion);
    sequence = sequence.index_select(0, completion);
    if (want_stats) stats = stats.index_select(0, completion);
  }
  out.token_logps = token_logps;
  out.token_sequence = sequence;
  out.logps = sum_per_sequence(out.token_logps, sequence, num_sequences);
  out.num_tokens = at::bincount(sequence, {}, num_sequences).to(at::kLong);
  if (options.ld_alpha) {
    at::Tensor weights = ld_weights(sequence, out.num_tokens, batch.num_pairs, *options.ld_alpha);
    out.ld_logps = sum_per_sequence(out.token_logps * weights, sequence, num_sequences);
  }
  if (options.token_stats) {
    out.logit_mean_sum = sum_per_sequence(stats.select(1, kLogitMean), sequence, num_sequences);
    out.entropy_sum = sum_per_sequence(stats.select(1, kEntropy), sequence, num_sequences);
    out.correct_tokens = sum_per_sequence(stats.select(1, kHit), sequence, num_sequences);
  }
  if (options.wpo) out.wpo_logps = sum_per_sequence(stats.select(1, kWpo), sequence, num_sequences);
  if (options.position_logit_means)
    out.position_logit_mean_sum =
        position_logit_mean_sums(hidden, lm_head_weight, batch, options, out.num_positions);
  return out;
}

}  // namespace dpo
