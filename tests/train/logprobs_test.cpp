// Chunked completion log-probs against a plain full log_softmax, values and gradients.
#include "train/logprobs.h"

#include <gtest/gtest.h>

#include <vector>

#include "data/batch.h"
#include "util/error.h"

namespace dpo {
namespace {

constexpr int64_t kRows = 4, kTime = 7, kChannels = 16, kVocab = 50;

// Padded preference batch of 2 pairs: rows 0,1 chosen, rows 2,3 rejected.
// Prompt lengths and completion lengths chosen so that the pairs have different shared lengths.
TokenBatch make_batch() {
  std::vector<int64_t> prompt_len = {2, 3, 2, 3};
  std::vector<int64_t> total_len = {6, 5, 7, 7};  // completions 4, 2, 5, 4 tokens
  at::Tensor ids = at::randint(kVocab, {kRows, kTime}, at::kLong);
  at::Tensor completion = at::zeros({kRows, kTime}, at::kBool);
  at::Tensor sequence = at::full({kRows, kTime}, -1, at::kLong);
  at::Tensor attention = at::zeros({kRows, kTime}, at::kLong);
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t t = 0; t < total_len[r]; ++t) attention[r][t] = 1;
    for (int64_t t = prompt_len[r]; t < total_len[r]; ++t) {
      completion[r][t] = true;
      sequence[r][t] = r;
    }
    for (int64_t t = total_len[r]; t < kTime; ++t) ids[r][t] = 0;
  }
  TokenBatch batch;
  batch.input.input_ids = ids;
  batch.input.attention_mask = attention;
  batch.completion_mask = completion;
  batch.sequence_index = sequence;
  batch.num_sequences = kRows;
  batch.num_pairs = 2;
  return batch;
}

// Reference: full (N, T, V) log_softmax, shifted, masked, summed (TRL's formulation).
at::Tensor naive_token_logps(const at::Tensor& hidden, const at::Tensor& weight,
                             const TokenBatch& batch) {
  at::Tensor logits = at::matmul(hidden, weight.t());  // (N, T, V)
  at::Tensor logp = at::log_softmax(logits.slice(1, 0, kTime - 1), -1);
  at::Tensor labels = batch.input.input_ids.slice(1, 1);
  at::Tensor per_token = logp.gather(2, labels.unsqueeze(2)).squeeze(2);  // (N, T-1)
  return per_token * batch.completion_mask.slice(1, 1).to(at::kFloat);
}

TEST(LogProbs, ChunkedMatchesFullLogSoftmaxWithGradients) {
  at::manual_seed(1);
  TokenBatch batch = make_batch();
  at::Tensor hidden0 = at::randn({kRows, kTime, kChannels});
  at::Tensor weight0 = at::randn({kVocab, kChannels});
  at::Tensor probe = at::randn({kRows});  // random cotangent for the sums

  at::Tensor hidden_ref = hidden0.clone().requires_grad_(true);
  at::Tensor weight_ref = weight0.clone().requires_grad_(true);
  at::Tensor expected = naive_token_logps(hidden_ref, weight_ref, batch).sum(1);
  (expected * probe).sum().backward();

  for (int64_t chunk : {1, 3, 1000}) {
    at::Tensor hidden = hidden0.clone().requires_grad_(true);
    at::Tensor weight = weight0.clone().requires_grad_(true);
    LogProbOptions options;
    options.chunk_tokens = chunk;
    SequenceLogProbs out = sequence_log_probs(hidden, weight, batch, options);
    EXPECT_TRUE(at::allclose(out.logps, expected.detach(), 1e-5, 1e-5)) << "chunk " << chunk;
    EXPECT_TRUE(at::equal(out.num_tokens, at::tensor(std::vector<int64_t>{4, 2, 5, 4})));
    (out.logps * probe).sum().backward();
    EXPECT_TRUE(at::allclose(hidden.grad(), hidden_ref.grad(), 1e-5, 1e-5)) << "chunk " << chunk;
    EXPECT_TRUE(at::allclose(weight.grad(), weight_ref.grad(), 1e-5, 1e-5)) << "chunk " << chunk;
  }
}

// gemma2's final soft-capping: the chunked function against autograd through
// cap * tanh(logits / cap), values, gradients and the position logit means.
TEST(LogProbs, SoftCappedLogitsMatchAutogradThroughTanh) {
  at::manual_seed(4);
  TokenBatch batch = make_batch();
  at::Tensor hidden0 = at::randn({kRows, kTime, kChannels}) * 3;  // logits well into the cap
  at::Tensor weight0 = at::randn({kVocab, kChannels});
  at::Tensor probe = at::randn({kRows});
  const double cap = 5.0;
  auto capped = [cap](const at::Tensor& logits) { return at::tanh(logits / cap) * cap; };

  at::Tensor hidden_ref = hidden0.clone().requires_grad_(true);
  at::Tensor weight_ref = weight0.clone().requires_grad_(true);
  at::Tensor logits = capped(at::matmul(hidden_ref, weight_ref.t()));  // (N, T, V)
  at::Tensor logp = at::log_softmax(logits.slice(1, 0, kTime - 1), -1);
  at::Tensor labels = batch.input.input_ids.slice(1, 1);
  at::Tensor expected = (logp.gather(2, labels.unsqueeze(2)).squeeze(2) *
                         batch.completion_mask.slice(1, 1).to(at::kFloat))
                            .sum(1);  // (N)
  (expected * probe).sum().backward();
  at::Tensor uncapped = sequence_log_probs(hidden0, weight0, batch, {}).logps;
  EXPECT_FALSE(at::allclose(uncapped, expected.detach(), 1e-3, 1e-3));  // the cap matters here

  for (int64_t chunk : {2, 1000}) {
    at::Tensor hidden = hidden0.clone().requires_grad_(true);
    at::Tensor weight = weight0.clone().requires_grad_(true);
    LogProbOptions options;
    options.chunk_tokens = chunk;
    options.logit_softcap = cap;
    options.position_logit_means = true;
    SequenceLogProbs out = sequence_log_probs(hidden, weight, batch, options);
    EXPECT_TRUE(at::allclose(out.logps, expected.detach(), 1e-5, 1e-5)) << "chunk " << chunk;
    (out.logps * probe).sum().backward();
    EXPECT_TRUE(at::allclose(hidden.grad(), hidden_ref.grad(), 1e-4, 1e-5)) << "chunk " << chunk;
    EXPECT_TRUE(at::allclose(weight.grad(), weight_ref.grad(), 1e-4, 1e-5)) << "chunk " << chunk;
    // Mean capped logit per position, summed over each sequence's positions.
    at::Tensor means = logits.detach().mean(-1);                         // (N, T)
    at::Tensor in_sequence = batch.sequence_index.ge(0).to(at::kFloat);  // (N, T)
    at::Tensor mean_sums = (means * in_sequence).sum(1).to(at::kDouble);
    EXPECT_TRUE(at::allclose(out.position_logit_mean_sum, mean_sums, 1e-5, 1e-5))
        << out.position_logit_mean_sum << mean_sums;
  }
}

TEST(LogProbs, FrozenWeightGetsNoGradientAndBf16HiddenWorks) {
  at::manual_seed(2);
  TokenBatch batch = make_batch();
  at::Tensor hidden = at::randn({kRows, kTime, kChannels}).to(at::kBFloat16).requires_grad_(true);
  at::Tensor weight = at::randn({kVocab, kChannels}).to(at::kBFloat16);
  SequenceLogProbs out = sequence_log_probs(hidden, weight, batch, {});
  EXPECT_EQ(out.logps.scalar_type(), at::kFloat);
  at::Tensor expected =
      naive_token_logps(hidden.detach().to(at::kFloat), weight.to(at::kFloat), batch).sum(1);
  EXPECT_TRUE(at::allclose(out.logps, expected, 1e-5, 1e-5));
  out.logps.sum().backward();
  EXPECT_EQ(hidden.grad().scalar_type(), at::kBFloat16);
  EXPECT_FALSE(weight.grad().defined());
}

TEST(LogProbs, LdAlphaWeightsTokensPastTheSharedLength) {
  at::manual_seed(3);
  TokenBatch batch = make_batch();
  at::Tensor hidden = at::randn({kRows, kTime, kChannels});
  at::Tensor weight = at::randn({kVocab, kChannels});
  LogProbOptions options;
  options.ld_alpha = 0.25;
  SequenceLogProbs out = sequence_log_probs(hidden, weight, batch, options);
  at::Tensor per_token = naive_token_logps(hidden, weight, batch);  // (N, T-1)
  // Pair 0: completions 4 and 5 tokens -> shared 4; pair 1: 2 and 4 -> shared 2.
  std::vector<int64_t> shared = {4, 2, 4, 2};
  for (int64_t r = 0; r < kRows; ++r) {
    double expected = 0;
    int64_t rank = 0;
    for (int64_t t = 0; t < kTime - 1; ++t) {
      if (!batch.completion_mask[r][t + 1].item<bool>()) continue;
      expected += per_token[r][t].item<double>() * (rank < shared[r] ? 1.0 : 0.25);
      ++rank;
    }
    EXPECT_NEAR(out.ld_logps[r].item<double>(), expected, 1e-4) << "row " << r;
  }
  EXPECT_TRUE(at::allclose(out.loss_logps(), out.ld_logps));
}

TEST(LogProbs, TokenStatisticsMatchTheFullLogits) {
  at::manual_seed(4);
  TokenBatch batch = make_batch();
  at::Tensor hidden = at::randn({kRows, kTime, kChannels});
  at::Tensor weight = at::randn({kVocab, kChannels});
  LogProbOptions options;
  options.token_stats = true;
  options.wpo = true;
  options.chunk_tokens = 2;
  SequenceLogProbs out = sequence_log_probs(hidden, weight, batch, options);
  at::Tensor logits =
      at::matmul(hidden, weight.t()).slice(1, 0, kTime - 1).to(at::kDouble);  // (N, T-1, V)
  at::Tensor logp = at::log_softmax(logits, -1);
  at::Tensor mask = batch.completion_mask.slice(1, 1).to(at::kDouble);
  at::Tensor labels = batch.input.input_ids.slice(1, 1);
  at::Tensor mean_logit = (logits.mean(-1) * mask).sum(1);
  at::Tensor entropy = (-(logp.exp() * logp).sum(-1) * mask).sum(1);
  at::Tensor hits = (logits.argmax(-1).eq(labels).to(at::kDouble) * mask).sum(1);
  at::Tensor token_logp = logp.gather(2, labels.unsqueeze(2)).squeeze(2);
  at::Tensor log_denom = at::logsumexp(2 * logits, -1) - 2 * at::logsumexp(logits, -1);
  at::Tensor wpo = ((token_logp - log_denom) * mask).sum(1);
  EXPECT_TRUE(at::allclose(out.logit_mean_sum, mean_logit, 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(out.entropy_sum, entropy, 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(out.correct_tokens, hits));
  EXPECT_TRUE(at::allclose(out.wpo_logps, wpo, 1e-5, 1e-5));
}

// every_token and position_logit_means on the builders' batches (padded and packed rows): the
// whole sequences' log-prob sums and the mean logit over each sequence's positions equal those of
// the full logits of each sequence on its own, and the completion outputs do not change.
TEST(LogProbs, EveryTokenAndPositionLogitMeansOnEveryLayout) {
  at::manual_seed(3);
  std::vector<PreferenceExample> pairs = {{{1, 2, 3}, {4, 5}, {6}, 0},
                                          {{7}, {9, 10, 11}, {12, 13}, 1}};
  at::Tensor weight = at::randn({kVocab, kChannels});
  at::Tensor table = at::randn({kVocab, kChannels});  // token -> hidden, position-free
  auto hidden_of = [&](const TokenBatch& b) {
    return table.index_select(0, b.input.input_ids.reshape({-1}))
        .reshape({b.input.input_ids.size(0), b.input.input_ids.size(1), kChannels});
  };
  // Expected, per sequence (chosen 0, 1, rejected 2, 3): its tokens on their own.
  std::vector<std::vector<int64_t>> seqs;
  for (const auto& e : pairs) {
    std::vector<int64_t> s(e.prompt_ids.begin(), e.prompt_ids.end());
    s.insert(s.end(), e.chosen_ids.begin(), e.chosen_ids.end());
    seqs.push_back(s);
  }
  for (const auto& e : pairs) {
    std::vector<int64_t> s(e.prompt_ids.begin(), e.prompt_ids.end());
    s.insert(s.end(), e.rejected_ids.begin(), e.rejected_ids.end());
    seqs.push_back(s);
  }
  std::vector<double> all_sum, logit_mean;
  std::vector<int64_t> all_count;
  for (const auto& s : seqs) {
    at::Tensor ids = at::tensor(s, at::kLong);
    at::Tensor logits = at::matmul(table.index_select(0, ids), weight.t());  // (L, V)
    at::Tensor logp = at::log_softmax(logits, -1);
    double sum = 0;
    for (size_t k = 1; k < s.size(); ++k)
      sum += logp[static_cast<int64_t>(k) - 1][s[k]].item<double>();
    all_sum.push_back(sum);
    all_count.push_back(static_cast<int64_t>(s.size()) - 1);
    logit_mean.push_back(logits.to(at::kDouble).mean().item<double>() *
                         static_cast<double>(s.size()));
  }
  for (BatchLayout layout : {BatchLayout::kPadded, BatchLayout::kPacked}) {
    TokenBatch batch = make_preference_batch(pairs, layout, 0, RowWidth::at_most(6));
    LogProbOptions plain;
    SequenceLogProbs base = sequence_log_probs(hidden_of(batch), weight, batch, plain);
    LogProbOptions options;
    options.every_token = true;
    options.position_logit_means = true;
    SequenceLogProbs out = sequence_log_probs(hidden_of(batch), weight, batch, options);
    EXPECT_TRUE(at::allclose(out.logps, base.logps, 1e-6, 1e-6));
    EXPECT_TRUE(at::equal(out.num_tokens, base.num_tokens));
    EXPECT_TRUE(at::allclose(out.all_logps.to(at::kDouble), at::tensor(all_sum), 1e-5, 1e-5));
    EXPECT_TRUE(at::equal(out.all_tokens, at::tensor(all_count)));
    EXPECT_TRUE(at::allclose(out.position_logit_mean_sum, at::tensor(logit_mean), 1e-5, 1e-6));
    EXPECT_TRUE(at::equal(out.num_positions, at::tensor(std::vector<int64_t>{5, 4, 4, 3})));
  }
}

TEST(LogProbs, CompletionAtPositionZeroIsAnInternalError) {
  TokenBatch batch = make_batch();
  batch.completion_mask[0][0] = true;
  batch.sequence_index[0][0] = 0;
  EXPECT_THROW(sequence_log_probs(at::randn({kRows, kTime, kChannels}),
                                  at::randn({kVocab, kChannels}), batch, {}),
               InternalError);
}

}  // namespace
}  // namespace dpo
