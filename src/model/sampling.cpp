#include "model/sampling.h"

#include <cmath>
#include <limits>

#include "util/error.h"

namespace dpo {

namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// Keeps the k largest logits (ties with the k-th kept, as transformers does).
at::Tensor keep_top_k(const at::Tensor& logits, int64_t k) {
  if (k <= 0 || k >= logits.size(0)) return logits;
  at::Tensor kth = std::get<0>(at::topk(logits, k)).select(0, k - 1);
  return logits.masked_fill(logits < kth, kMinusInf);
}

// Keeps the smallest set of most likely tokens whose probability reaches top_p (at least one).
at::Tensor keep_top_p(const at::Tensor& logits, double top_p) {
  if (top_p >= 1.0) return logits;
  auto [sorted, order] = at::sort(logits, /*dim=*/0, /*descending=*/false);  // ascending, as HF
  at::Tensor cumulative = at::softmax(sorted, 0).cumsum(0);
  at::Tensor remove_sorted = cumulative <= (1.0 - top_p);
  remove_sorted.select(0, -1).fill_(false);  // the most likely token always stays
  at::Tensor remove = at::zeros_like(remove_sorted).scatter(0, order, remove_sorted);
  return logits.masked_fill(remove, kMinusInf);
}

}  // namespace

void validate(const SamplingOptions& options) {
  if (options.top_k < 0) throw_user_error("--top-k must be >= 0 (0 = off), got {}", options.top_k);
  if (!(options.top_p > 0.0 && options.top_p <= 1.0))
    throw_user_error("--top-p must be in (0, 1], got {}", options.top_p);
  if (!(options.temperature >= 0.0 && std::isfinite(options.temperature)))
    throw_user_error("--temperature must be >= 0 (0 = greedy), got {}", options.temperature);
}

int64_t choose_token(const at::Tensor& logits, const SamplingOptions& options,
                     at::Generator& generator) {
  at::Tensor scores = logits.to(at::kCPU, at::kFloat);  // (V)
  if (options.temperature <= 0.0) return scores.argmax().item<int64_t>();
  scores = scores / options.temperature;
  scores = keep_top_k(scores, options.top_k);
  scores = keep_top_p(scores, options.top_p);
  at::Tensor probs = at::softmax(scores, 0);
  return at::multinomial(probs, 1, /*replacement=*/false, generator).item<int64_t>();
}

}  // namespace dpo
