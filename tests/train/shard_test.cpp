// How a data-parallel rank's share of a global micro-batch is chosen: balanced by tokens, at most
// per_device examples each, every example on exactly one rank.
#include <gtest/gtest.h>

#include <vector>

#include "train/data_parallel.h"

namespace dpo {
namespace {

std::vector<int64_t> loads(const std::vector<int64_t>& tokens, const std::vector<int>& owner,
                           int world) {
  std::vector<int64_t> load(static_cast<size_t>(world), 0);
  for (size_t i = 0; i < tokens.size(); ++i) load[static_cast<size_t>(owner[i])] += tokens[i];
  return load;
}

TEST(BalanceByTokens, LongestFirstToTheLightestRankWithRoom) {
  // contiguous slices would give 900+800 | 100+50: rank 1 idles most of the step
  const std::vector<int64_t> tokens = {900, 800, 100, 50};
  const std::vector<int> owner = balance_by_tokens(tokens, 2, 2);
  EXPECT_EQ(owner, (std::vector<int>{0, 1, 1, 0}));
  EXPECT_EQ(loads(tokens, owner, 2), (std::vector<int64_t>{950, 900}));
}

TEST(BalanceByTokens, NoRankGetsMoreThanPerDevice) {
  // one long example and many short ones: the long one's rank still takes its per_device
  const std::vector<int64_t> tokens = {1000, 1, 1, 1, 1, 1};
  const std::vector<int> owner = balance_by_tokens(tokens, 2, 3);
  std::vector<int> count(2, 0);
  for (int r : owner) ++count[static_cast<size_t>(r)];
  EXPECT_EQ(count, (std::vector<int>{3, 3}));
  EXPECT_EQ(owner[0], 0);
}

TEST(BalanceByTokens, ShortLastBatchAndTies) {
  // the end of an epoch: 3 examples for 4 ranks of 2; equal lengths go to the lower ranks
  EXPECT_EQ(balance_by_tokens({5, 5, 5}, 4, 2), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(balance_by_tokens({}, 2, 2), (std::vector<int>{}));
}

TEST(DataParallelShard, OneProcessTakesTheWholeBatch) {
  const DataParallel one;
  EXPECT_EQ(one.shard({7, 3, 9}, 4, {10, 20, 30}), (std::vector<int64_t>{7, 3, 9}));
}

}  // namespace
}  // namespace dpo
