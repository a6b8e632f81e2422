// Gradient accumulation gives the same update: one batch of 8 pairs versus 4 micro-batches of 2
// pairs, each micro-batch loss divided by the 4 micro-batches (as the trainer scales it), on the
// fixture Llama with its (non-zero) PEFT adapter, in float32.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "data/batch.h"
#include "lora/lora_model.h"
#include "train/objective.h"
#include "train/optimizer.h"
#include "util/fs.h"

namespace dpo {
namespace {

const fs::path kLlama = fs::path(DPO_FIXTURES) / "hf" / "llama";

// The fixture's 4 pairs plus the same 4 with chosen and rejected swapped: 8 distinct pairs.
std::vector<PreferenceExample> eight_pairs() {
  nlohmann::json expected = nlohmann::json::parse(read_file(kLlama / "expected.json"));
  std::vector<PreferenceExample> pairs;
  for (bool swapped : {false, true}) {
    for (const auto& pair : expected["pairs"]) {
      PreferenceExample example;
      example.prompt_ids = pair["prompt_ids"].get<TokenIds>();
      example.chosen_ids = pair[swapped ? "rejected_ids" : "chosen_ids"].get<TokenIds>();
      example.rejected_ids = pair[swapped ? "chosen_ids" : "rejected_ids"].get<TokenIds>();
      example.index = static_cast<int64_t>(pairs.size());
      pairs.push_back(example);
    }
  }
  return pairs;
}

// Gradients of every LoRA parameter after accumulating `micro_batches` equal slices of `pairs`.
std::vector<at::Tensor> accumulated_gradients(LlamaModel& model, LoraModel& lora,
                                              const std::vector<PreferenceExample>& pairs,
                                              int micro_batches) {
  for (auto& p : lora.parameters())
    if (p.grad().defined()) p.mutable_grad().zero_();
  Objective objective = Objective::preference(model, LossConfig(), Reference::adapters_off(&lora));
  const size_t per_batch = pairs.size() / micro_batches;
  for (int m = 0; m < micro_batches; ++m) {
    std::vector<PreferenceExample> slice(pairs.begin() + m * per_batch,
                                         pairs.begin() + (m + 1) * per_batch);
    TokenBatch batch = make_preference_batch(slice, BatchLayout::kPadded, /*pad_token_id=*/0);
    BatchResult result = objective.loss(MicroBatch{batch, {}});
    (result.loss / micro_batches).backward();
  }
  std::vector<at::Tensor> grads;
  for (auto& p : lora.parameters()) grads.push_back(p.grad().detach().clone());
  return grads;
}

TEST(GradientAccumulation, EightTimesOneEqualsTwoTimesFour) {
  LlamaModel model = LlamaModel::load(kLlama / "model", at::kFloat, at::kCPU);
  LoraModel lora = LoraModel::load(model, kLlama / "adapter");
  lora.set_requires_grad(true);
  std::vector<PreferenceExample> pairs = eight_pairs();

  std::vector<at::Tensor> whole = accumulated_gradients(model, lora, pairs, 1);
  std::vector<at::Tensor> accumulated = accumulated_gradients(model, lora, pairs, 4);
  ASSERT_EQ(whole.size(), 28u);
  ASSERT_EQ(whole.size(), accumulated.size());
  // The same 8 pairs in reverse order give the float32 noise floor of this comparison: DPO's
  // gradient is a difference of chosen and rejected gradients, which amplifies rounding, and here
  // it is about 2e-5 relative, above the 1e-5 a plain float32 sum would allow. So each gradient
  // tensor's relative L2 difference ||g_accumulated - g_whole|| / ||g_whole|| must stay below 1e-4
  // and within 3x that noise floor.
  std::vector<PreferenceExample> reversed(pairs.rbegin(), pairs.rend());
  std::vector<at::Tensor> whole_reversed = accumulated_gradients(model, lora, reversed, 1);
  auto relative = [](const at::Tensor& a, const at::Tensor& b) {
    return (a - b).norm().item<double>() / b.norm().item<double>();
  };
  double worst = 0.0, noise = 0.0;
  for (size_t i = 0; i < whole.size(); ++i) {
    ASSERT_GT(whole[i].norm().item<double>(), 0.0) << "parameter " << i << " has no gradient";
    worst = std::max(worst, relative(accumulated[i], whole[i]));
    noise = std::max(noise, relative(whole_reversed[i], whole[i]));
    EXPECT_LT(relative(accumulated[i], whole[i]), 1e-4) << "parameter " << i;
  }
  std::printf("largest relative L2 difference, 8x1 vs 2x4: %.3g; same batch reversed: %.3g\n",
              worst, noise);
  EXPECT_LT(worst, 3.0 * noise + 1e-7);
  // And a real difference is caught: dropping the 1/4 scaling of the micro-batches is far off.
  std::vector<at::Tensor> unscaled = accumulated_gradients(model, lora, pairs, 4);
  for (auto& g : unscaled) g.mul_(4.0);
  EXPECT_GT((unscaled[0] - whole[0]).norm().item<double>() / whole[0].norm().item<double>(), 1.0);
}

}  // namespace
}  // namespace dpo
