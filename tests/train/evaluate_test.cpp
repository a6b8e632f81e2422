// The evaluation loop on the fixture model: eval_loss weights each batch by its examples (a short
// last batch counts for its own size, as transformers' evaluation loop), so it is the mean of the
// per-pair losses whatever the batch size; the other metrics are TRL's averages over batches.
#include "train/evaluate.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "train/fixture_pairs.h"
#include "util/fs.h"

namespace dpo {
namespace {

const fs::path kLlama = testing::kLlamaFixture;

std::vector<PreferenceExample> fixture_pairs() {
  return testing::llama_fixture_pairs();
}

struct Evaluated {
  std::map<std::string, double> metrics;
  std::vector<double> per_pair_loss;
  std::vector<double> batch_chosen_rewards;  // each batch's mean
};

Evaluated evaluate_in_batches(int64_t batch_size) {
  LlamaModel model = LlamaModel::load(kLlama / "model", at::kFloat, at::kCPU);
  LoraModel lora = LoraModel::load(model, kLlama / "adapter");
  Objective objective = Objective::preference(model, LossConfig(), Reference::adapters_off(&lora));
  const Batcher batcher(model, /*padding_free=*/false, /*prompt_sharing=*/false,
                        /*pad_token_id=*/0);
  const std::vector<PreferenceExample> pairs = fixture_pairs();
  EvalExamples examples;
  examples.preference = &pairs;
  Evaluated out;
  out.metrics =
      evaluate(objective, batcher, examples, batch_size,
               [&](const MicroBatch& batch, const BatchResult& result) {
                 EXPECT_EQ(batch.rows.split, Split::kEval);
                 for (int64_t i = 0; i < batch.tokens.num_pairs; ++i)
                   out.per_pair_loss.push_back(result.pairs.per_pair_loss[i].item<double>());
                 out.batch_chosen_rewards.push_back(result.metrics.at("rewards/chosen"));
               });
  return out;
}

TEST(Evaluate, AShortLastBatchCountsForItsOwnSize) {
  Evaluated whole = evaluate_in_batches(4);
  Evaluated short_last = evaluate_in_batches(3);  // batches of 3 and 1
  ASSERT_EQ(whole.per_pair_loss.size(), 4u);
  ASSERT_EQ(short_last.per_pair_loss.size(), 4u);
  ASSERT_EQ(short_last.batch_chosen_rewards.size(), 2u);
  double mean = 0.0;
  for (double loss : short_last.per_pair_loss) mean += loss / 4.0;
  EXPECT_NEAR(short_last.metrics.at("eval_loss"), mean, 1e-9);
  EXPECT_NEAR(whole.metrics.at("eval_loss"), mean, 1e-6);
  // The average of the two batch means is another number here, so the weighting is seen.
  const double first3 =
      (short_last.per_pair_loss[0] + short_last.per_pair_loss[1] + short_last.per_pair_loss[2]) / 3;
  EXPECT_GT(std::abs((first3 + short_last.per_pair_loss[3]) / 2 - mean), 1e-4);
  // TRL's other metrics: the mean of the per-batch values.
  EXPECT_NEAR(short_last.metrics.at("eval_rewards/chosen"),
              (short_last.batch_chosen_rewards[0] + short_last.batch_chosen_rewards[1]) / 2, 1e-12);
  EXPECT_EQ(short_last.metrics.count("eval_runtime"), 1u);
}

}  // namespace
}  // namespace dpo
