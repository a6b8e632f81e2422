#include "data/batch.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "data/sampler.h"

namespace dpo {
namespace {

std::vector<int64_t> values(const at::Tensor& t) {
  at::Tensor flat = t.to(at::kLong).contiguous().view(-1);
  return std::vector<int64_t>(flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel());
}

TEST(Batch, PaddedMatchesTrlCollator) {
  // The example of TRL's DataCollatorForPreference docstring.
  std::vector<PreferenceExample> pairs = {{{1, 2, 3}, {4, 5}, {6}, 10},
                                          {{7, 8}, {9}, {10, 11}, 11}};
  TokenBatch b = make_preference_batch(pairs, BatchLayout::kPadded, 0);
  EXPECT_EQ(values(b.input.input_ids),
            (std::vector<int64_t>{1, 2, 3, 4, 5, 7, 8, 9, 0, 0, 1, 2, 3, 6, 0, 7, 8, 10, 11, 0}));
  EXPECT_EQ(values(b.input.attention_mask),
            (std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0}));
  EXPECT_EQ(values(b.completion_mask),
            (std::vector<int64_t>{0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(values(b.sequence_index),
            (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 1, -1, -1, 2, 2, 2, 2, -1, 3, 3, 3, 3, -1}));
  EXPECT_EQ(values(b.logit_index), (std::vector<int64_t>{-1, 0, 1, 2, 3,  -1, 0, 1, -1, -1,
                                                         -1, 0, 1, 2, -1, -1, 0, 1, 2,  -1}));
  EXPECT_EQ(b.num_pairs, 2);
  EXPECT_EQ(b.num_sequences, 4);
  EXPECT_EQ(b.real_tokens, 5 + 3 + 4 + 4);
  EXPECT_EQ(b.example_indices, (std::vector<int64_t>{10, 11}));
  EXPECT_FALSE(b.input.segment_ids.defined());
}

// Per scored token: (sequence, token, position, the tokens+positions it may attend to, the token
// its logits come from). Identical across layouts means the same scores and the same context.
using Scored =
    std::tuple<int64_t, int64_t, int64_t, std::multiset<std::pair<int64_t, int64_t>>, int64_t>;

std::multiset<Scored> scored_tokens(const TokenBatch& b) {
  const int64_t n = b.input.input_ids.size(0), t = b.input.input_ids.size(1);
  auto ids = values(b.input.input_ids), pos = values(b.input.position_ids);
  auto seq = values(b.sequence_index), from = values(b.logit_index),
       mask = values(b.completion_mask);
  std::vector<int64_t> attn =
      b.input.attention_mask.defined() ? values(b.input.attention_mask) : std::vector<int64_t>{};
  std::vector<int64_t> segments =
      b.input.segment_ids.defined() ? values(b.input.segment_ids) : std::vector<int64_t>{};
  std::vector<int64_t> allowed =
      b.input.allowed.defined() ? values(b.input.allowed) : std::vector<int64_t>{};
  // Prompt sharing: a key is visible in its segment when it is on the query's branch or on the
  // shared prompt (branch 0), as model/attention.h builds the mask.
  std::vector<int64_t> branches =
      b.input.branch_ids.defined() ? values(b.input.branch_ids) : std::vector<int64_t>{};
  auto same_branch = [&](int64_t key, int64_t query) {
    return branches.empty() || branches[key] == 0 || branches[key] == branches[query];
  };
  std::multiset<Scored> out;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < t; ++i) {
      int64_t at = r * t + i;
      if (!mask[at]) continue;
      std::multiset<std::pair<int64_t, int64_t>> visible;
      for (int64_t j = 0; j <= i; ++j) {
        int64_t key = r * t + j;
        bool sees = !allowed.empty()    ? allowed[r * t * t + i * t + j] != 0
                    : !segments.empty() ? segments[key] == segments[at] && same_branch(key, at)
                                        : attn[key] != 0;
        if (sees) visible.insert({ids[key], pos[key]});
      }
      if (!allowed.empty()) {  // no query may see a later key
        for (int64_t j = i + 1; j < t; ++j) EXPECT_FALSE(allowed[r * t * t + i * t + j]);
      }
      out.insert({seq[at], ids[at], pos[at], visible, ids[r * t + from[at]]});
    }
  return out;
}

std::vector<PreferenceExample> sample_pairs() {
  return {{{1, 2, 3}, {4, 5}, {6}, 0},
          {{7, 8}, {9}, {10, 11, 12}, 1},
          {{13}, {14, 15, 16, 17}, {18, 19}, 2},
          {{}, {20, 21}, {22}, 3}};  // empty prompt (keep_end truncation): first token unscored
}

TEST(Batch, PackedAndPromptSharingScoreTheSameTokensAsPadded) {
  auto pairs = sample_pairs();
  auto reference = scored_tokens(make_preference_batch(pairs, BatchLayout::kPadded, 0));
  EXPECT_EQ(reference.size(), 2u + 1 + 1 + 3 + 4 + 2 + 1 + 0);
  for (int64_t max_row : {0, 6, 9, 100}) {
    const RowWidth width = max_row > 0 ? RowWidth::at_most(max_row) : RowWidth::one_row();
    TokenBatch packed = make_preference_batch(pairs, BatchLayout::kPacked, 0, width);
    EXPECT_EQ(scored_tokens(packed), reference) << "max_row_tokens " << max_row;
    EXPECT_EQ(packed.real_tokens, 28);
  }
  for (int64_t max_row : {0, 6, 9, 100}) {
    const RowWidth width = max_row > 0 ? RowWidth::at_most(max_row) : RowWidth::one_row();
    TokenBatch sharing = make_preference_batch(pairs, BatchLayout::kPromptSharing, 0, width);
    EXPECT_EQ(scored_tokens(sharing), reference) << "max_row_tokens " << max_row;
    EXPECT_EQ(sharing.real_tokens, 28 - (3 + 2 + 1));  // each prompt once
    EXPECT_EQ(sharing.shared_tokens, 3 + 2 + 1);
  }
  // One row holds them all; rows of at most 9 tokens take 3 (segments 7, 6, 6, 3: [7] [6 3] [6]).
  EXPECT_EQ(make_preference_batch(pairs, BatchLayout::kPromptSharing, 0).input.input_ids.size(0),
            1);
  EXPECT_EQ(make_preference_batch(pairs, BatchLayout::kPromptSharing, 0, RowWidth::at_most(9))
                .input.input_ids.size(0),
            3);
}

TEST(Batch, PackedLayoutSegmentsAndPositions) {
  std::vector<PreferenceExample> pairs = {{{1, 2}, {3}, {4, 5}, 0}};
  TokenBatch b = make_preference_batch(pairs, BatchLayout::kPacked, 0, RowWidth::at_most(4));
  // Longest first: rows [1 2 4 5] (rejected, sequence 1) and [1 2 3 | pad] (chosen, sequence 0).
  EXPECT_EQ(values(b.input.input_ids), (std::vector<int64_t>{1, 2, 4, 5, 1, 2, 3, 0}));
  EXPECT_EQ(values(b.input.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, -1}));
  EXPECT_EQ(values(b.input.position_ids), (std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 0}));
  EXPECT_EQ(values(b.sequence_index), (std::vector<int64_t>{1, 1, 1, 1, 0, 0, 0, -1}));
  TokenBatch one_row = make_preference_batch(pairs, BatchLayout::kPacked, 0, RowWidth::one_row());
  EXPECT_EQ(values(one_row.input.segment_ids), (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(values(one_row.input.position_ids), (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 3}));
  EXPECT_EQ(values(one_row.sequence_index), (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(values(one_row.logit_index), (std::vector<int64_t>{-1, 0, 1, -1, 3, 4, 5}));
}

// First-fit, longest first: lengths 5, 2, 4, 3 in rows of 5 take 3 rows ([5], [4], [3 2]) where
// filling rows in order takes 4 ([5], [2], [4], [3]).
TEST(Batch, PackedRowsAreFilledFirstFitLongestFirst) {
  auto ids = [](int64_t n) { return TokenIds(static_cast<size_t>(n), 7); };
  std::vector<SftExample> examples = {
      {{1}, ids(4), 0}, {{1}, ids(1), 1}, {{1}, ids(3), 2}, {{1}, ids(2), 3}};
  TokenBatch b = make_sft_batch(examples, BatchLayout::kPacked, 0, RowWidth::at_most(5));
  EXPECT_EQ(b.input.input_ids.size(0), 3);
  EXPECT_EQ(b.input.input_ids.size(1), 5);
  EXPECT_EQ(values(b.input.segment_ids),
            (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 1}));
  EXPECT_EQ(b.real_tokens, 14);
  TokenBatch widest =
      make_sft_batch(examples, BatchLayout::kPacked, 0, RowWidth::longest_sequence());
  EXPECT_TRUE(at::equal(widest.input.input_ids, b.input.input_ids));
}

TEST(Batch, PromptSharingLayout) {
  // Pair 0: prompt [1 2], chosen [3], rejected [4 5]; pair 1: prompt [6], chosen [7 8], rejected
  // [9]; pair 2 has an empty prompt. One row: [1 2 3 4 5 | 6 7 8 9 | 10 11].
  std::vector<PreferenceExample> pairs = {
      {{1, 2}, {3}, {4, 5}, 0}, {{6}, {7, 8}, {9}, 1}, {{}, {10}, {11}, 2}};
  TokenBatch b = make_preference_batch(pairs, BatchLayout::kPromptSharing, 0);
  EXPECT_EQ(values(b.input.input_ids), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(values(b.input.segment_ids), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2}));
  EXPECT_EQ(values(b.input.branch_ids), (std::vector<int64_t>{0, 0, 1, 2, 2, 0, 1, 1, 2, 1, 2}));
  // Rejected positions continue from the prompt: as if it followed the prompt directly.
  EXPECT_EQ(values(b.input.position_ids), (std::vector<int64_t>{0, 1, 2, 2, 3, 0, 1, 2, 1, 0, 0}));
  // Chosen sequences 0..2, rejected 3..5; the prompt belongs to chosen and (shared) to rejected.
  EXPECT_EQ(values(b.sequence_index), (std::vector<int64_t>{0, 0, 0, 3, 3, 1, 1, 1, 4, 2, 5}));
  EXPECT_EQ(values(b.shared_sequence_index),
            (std::vector<int64_t>{3, 3, -1, -1, -1, 4, -1, -1, -1, -1, -1}));
  // The first rejected token is predicted from the prompt's last position; without a prompt,
  // nothing predicts a sequence's first token.
  EXPECT_EQ(values(b.logit_index), (std::vector<int64_t>{-1, 0, 1, 1, 3, -1, 5, 6, 5, -1, -1}));
  EXPECT_EQ(values(b.completion_mask), (std::vector<int64_t>{0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0}));
  EXPECT_FALSE(b.input.allowed.defined());
  EXPECT_EQ(b.real_tokens, 11);
  EXPECT_EQ(b.shared_tokens, 3);
  EXPECT_EQ(b.num_sequences, 6);
  EXPECT_EQ(std::string(batch_layout_name(BatchLayout::kPromptSharing)), "shared");
}

TEST(Batch, SftBatches) {
  std::vector<SftExample> examples = {{{1, 2}, {3, 4}, 5}, {{}, {6, 7, 8}, 6}};
  TokenBatch b = make_sft_batch(examples, BatchLayout::kPadded, 0);
  EXPECT_EQ(values(b.completion_mask), (std::vector<int64_t>{0, 0, 1, 1, 0, 1, 1, 0}));
  EXPECT_EQ(b.num_pairs, 0);
  EXPECT_EQ(b.num_sequences, 2);
  EXPECT_EQ(scored_tokens(make_sft_batch(examples, BatchLayout::kPacked, 0, RowWidth::one_row())),
            scored_tokens(b));
}

TEST(Sampler, SameSeedSameBatchesOtherSeedOtherOrder) {
  SamplerOptions o;
  o.batch_size = 4;
  o.seed = 42;
  auto a = epoch_batches(50, 0, o), b = epoch_batches(50, 0, o);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 13u);
  EXPECT_EQ(a.back().size(), 2u);
  EXPECT_NE(epoch_batches(50, 1, o), a);  // another epoch, another order
  o.seed = 43;
  EXPECT_NE(epoch_batches(50, 0, o), a);
  std::vector<int64_t> all;
  for (auto& batch : a) all.insert(all.end(), batch.begin(), batch.end());
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(all[static_cast<size_t>(i)], i);
  o.drop_last = true;
  EXPECT_EQ(epoch_batches(50, 0, o).size(), 12u);
  // The epoch order is torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)):
  // the numbers torch 2.11 gives.
  EXPECT_EQ(torch_randperm(10, 42), (std::vector<int64_t>{2, 6, 1, 8, 4, 5, 0, 9, 3, 7}));
  EXPECT_EQ(torch_randperm(7, 0), (std::vector<int64_t>{4, 0, 5, 3, 2, 6, 1}));
  const std::vector<int64_t> thousand = torch_randperm(1000, 42);
  EXPECT_EQ(std::vector<int64_t>(thousand.begin(), thousand.begin() + 6),
            (std::vector<int64_t>{542, 618, 816, 68, 94, 215}));
  o.drop_last = false;
  o.batch_size = 4;
  o.seed = 42;
  EXPECT_EQ(epoch_batches(10, 1, o).front(), (std::vector<int64_t>{8, 4, 9, 0}));  // 42 + epoch 1
  // The eval split's generator is ours: fixed numbers on every platform.
  EXPECT_EQ(permutation(5, 42), permutation(5, 42));
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFull);
}

TEST(Sampler, LengthGroupedBatchesHoldSimilarLengths) {
  SamplerOptions o;
  o.batch_size = 2;
  o.group_by_length = true;
  o.megabatch_factor = 5;  // megabatches of 10
  std::vector<int64_t> lengths(40);
  for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = static_cast<int64_t>((i * 37) % 101);
  auto batches = epoch_batches(40, 0, o, lengths);
  ASSERT_EQ(batches.size(), 20u);
  for (size_t m = 0; m < 4; ++m) {  // within each megabatch: longest first
    for (size_t k = 5 * m; k + 1 < 5 * (m + 1); ++k)
      EXPECT_GE(lengths[batches[k].back()], lengths[batches[k + 1].front()]);
  }
  EXPECT_EQ(epoch_batches(40, 0, o, lengths), batches);
}

}  // namespace
}  // namespace dpo
