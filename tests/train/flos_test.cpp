// total_flos as transformers estimates it: the positions of TRL's padded input_ids whatever
// layout dpo.cpp computes, and the parameters outside the embeddings, derived by hand from the
// fixture models' configs.
#include "train/flos.h"

#include <gtest/gtest.h>

#include <vector>

#include "train/fixture_pairs.h"

namespace dpo {
namespace {

TokenIds ids(int64_t n) {
  return TokenIds(static_cast<size_t>(n), 5);
}

// Prompt lengths 3 and 6, chosen 4 and 1, rejected 2 and 5: sequences 7, 7 | 5, 11.
std::vector<PreferenceExample> two_pairs() {
  return {{ids(3), ids(4), ids(2), 0}, {ids(6), ids(1), ids(5), 1}};
}

TEST(Flos, PreferencePositionsAreTrlsPaddedBatchInEveryLayout) {
  for (BatchLayout layout :
       {BatchLayout::kPadded, BatchLayout::kPacked, BatchLayout::kPromptSharing}) {
    const TokenBatch batch = make_preference_batch(two_pairs(), layout, 0);
    EXPECT_EQ(batch.sequence_lengths, (std::vector<int64_t>{7, 7, 5, 11}))
        << batch_layout_name(layout);
    EXPECT_EQ(trl_input_positions(batch, /*kto=*/false), 4 * 11) << batch_layout_name(layout);
  }
}

TEST(Flos, KtoCountsTheExampleSequencesNotTheKlOnes) {
  // KTO's pairs: "chosen" the example (7 and 7 tokens), "rejected" its KL sequence (5 and 11).
  const TokenBatch batch = make_preference_batch(two_pairs(), BatchLayout::kPacked, 0);
  EXPECT_EQ(trl_input_positions(batch, /*kto=*/true), 2 * 7);
}

TEST(Flos, SftPositionsAreRowsTimesTheLongest) {
  const std::vector<SftExample> examples = {
      {ids(2), ids(3), 0}, {ids(0), ids(9), 1}, {ids(4), ids(4), 2}};
  for (BatchLayout layout : {BatchLayout::kPadded, BatchLayout::kPacked}) {
    const TokenBatch batch = make_sft_batch(examples, layout, 0);
    EXPECT_EQ(trl_input_positions(batch, false), 3 * 9) << batch_layout_name(layout);
  }
}

TEST(Flos, ParametersOutsideTheEmbeddingsWithAndWithoutTheAdapter) {
  // llama fixture: hidden 32, intermediate 64, 2 layers, 4 heads and 2 kv heads of 8, vocab
  // 32000, lm_head untied; its adapter r = 4 on all seven projections.
  const int64_t attention = 32 * 32 + 2 * (16 * 32) + 32 * 32;  // q, k, v, o
  const int64_t mlp = 3 * (64 * 32);
  const int64_t layer = attention + mlp + 2 * 32;    // + two norms
  const int64_t base = 2 * layer + 32 + 32000 * 32;  // + final norm + lm_head
  const int64_t adapter_layer = (4 * 32 + 32 * 4) * 2 + (4 * 32 + 16 * 4) * 2 +  // q, o; k, v
                                (4 * 32 + 64 * 4) * 2 + (4 * 64 + 32 * 4);       // gate, up; down
  LlamaModel llama = LlamaModel::load(testing::kLlamaFixture / "model", at::kFloat, at::kCPU);
  EXPECT_EQ(non_embedding_parameters(llama, nullptr), base);
  const LoraModel lora = LoraModel::load(llama, testing::kLlamaFixture / "adapter");
  EXPECT_EQ(non_embedding_parameters(llama, &lora), base + 2 * adapter_layer);
  // TRL's "ref" copy of a starting adapter counts as well
  EXPECT_EQ(non_embedding_parameters(llama, &lora, true), base + 2 * 2 * adapter_layer);

  // qwen2 fixture: the same shapes, q/k/v biases, the lm_head tied to the embedding (not counted).
  const fs::path qwen2 = testing::hf_fixture("qwen2") / "model";
  const LlamaModel tied = LlamaModel::load(qwen2, at::kFloat, at::kCPU);
  EXPECT_EQ(non_embedding_parameters(tied, nullptr), 2 * (layer + 32 + 16 + 16) + 32);
}

TEST(Flos, SixFlopsPerPositionAndParameter) {
  EXPECT_DOUBLE_EQ(floating_point_ops(44, 1000), 6.0 * 44 * 1000);
  EXPECT_DOUBLE_EQ(floating_point_ops(0, 1000), 0.0);
}

}  // namespace
}  // namespace dpo
