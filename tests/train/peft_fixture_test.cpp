// Acceptance against the PEFT/TRL fixtures (tests/fixtures/hf/*: made with transformers + peft in
// float32): policy/reference log-probs, sigmoid DPO loss and rewards, the 28 LoRA gradients, one
// AdamW step, merging, a fresh adapter, and the PEFT adapter files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "data/batch.h"
#include "io/safetensors.h"
#include "lora/lora_model.h"
#include "train/losses.h"
#include "train/metrics.h"
#include "train/objective.h"
#include "train/optimizer.h"
#include "train/preference.h"
#include "util/fs.h"

namespace dpo {
namespace {

const fs::path kFixtures = fs::path(DPO_FIXTURES) / "hf";

struct Fixture {
  fs::path dir;
  nlohmann::json expected;
  std::map<std::string, at::Tensor> tensors;
  std::vector<PreferenceExample> pairs;
};

Fixture load_fixture(const std::string& kind) {
  Fixture f;
  f.dir = kFixtures / kind;
  f.expected = nlohmann::json::parse(read_file(f.dir / "expected.json"));
  f.tensors = load_safetensors(f.dir / "expected.safetensors");
  int64_t index = 0;
  for (const auto& pair : f.expected["pairs"]) {
    PreferenceExample example;
    example.prompt_ids = pair["prompt_ids"].get<TokenIds>();
    example.chosen_ids = pair["chosen_ids"].get<TokenIds>();
    example.rejected_ids = pair["rejected_ids"].get<TokenIds>();
    example.index = index++;
    f.pairs.push_back(example);
  }
  return f;
}

std::vector<double> values(const at::Tensor& t) {
  at::Tensor d = t.detach().to(at::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

void expect_rel(double actual, double expected, double rtol, const std::string& what) {
  EXPECT_NEAR(actual, expected, rtol * std::max(std::abs(expected), 1e-6)) << what;
}

void expect_all_rel(const at::Tensor& actual, const nlohmann::json& expected, double rtol,
                    const std::string& what) {
  std::vector<double> got = values(actual);
  ASSERT_EQ(got.size(), expected.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    expect_rel(got[i], expected[i].get<double>(), rtol, what + "[" + std::to_string(i) + "]");
}

LossConfig sigmoid_beta(double beta) {
  LossConfig config;
  config.beta = beta;
  return config;
}

// The mean sigmoid DPO loss of the fixture's pairs, with the current adapter weights.
LossOutput dpo_loss(const LlamaModel& model, const LoraModel& lora, const TokenBatch& batch,
                    double beta, PreferenceForward* forward_out = nullptr) {
  Reference source = Reference::adapters_off(&lora);
  PreferenceForward forward =
      preference_forward(model, batch, logprob_options_for(sigmoid_beta(beta), true), source);
  LossOutput loss = preference_loss(sigmoid_beta(beta), forward.logps);
  if (forward_out) *forward_out = forward;
  return loss;
}

class PeftFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(PeftFixture, LogProbsLossRewardsGradientsAdamWAndMerge) {
  Fixture f = load_fixture(GetParam());
  const nlohmann::json& dpo = f.expected["dpo"];
  const double beta = dpo["beta"].get<double>();
  LlamaModel model = LlamaModel::load(f.dir / "model", at::kFloat, at::kCPU);
  LoraModel lora = LoraModel::load(model, f.dir / "adapter");
  lora.set_dropout_active(false);
  TokenBatch batch = make_preference_batch(f.pairs, BatchLayout::kPadded, 0);

  PreferenceForward forward;
  LossOutput loss = dpo_loss(model, lora, batch, beta, &forward);
  const int64_t p = static_cast<int64_t>(f.pairs.size());
  expect_all_rel(forward.logps.chosen_logps, dpo["policy_logps_chosen"], 1e-4, "policy chosen");
  expect_all_rel(forward.logps.rejected_logps, dpo["policy_logps_rejected"], 1e-4,
                 "policy rejected");
  expect_all_rel(forward.logps.ref_chosen_logps, dpo["ref_logps_chosen"], 1e-4, "reference chosen");
  expect_all_rel(forward.logps.ref_rejected_logps, dpo["ref_logps_rejected"], 1e-4,
                 "reference rejected");
  expect_all_rel(forward.logps.chosen_tokens, dpo["completion_tokens_chosen"], 0, "tokens chosen");
  expect_all_rel(forward.logps.rejected_tokens, dpo["completion_tokens_rejected"], 0,
                 "tokens rejected");

  // Rewards are beta times differences of nearly equal log-probs (|logp| up to ~200): compare them
  // absolutely, at 10x the float32 error seen (5e-6).
  const double reward_atol = 5e-5;
  std::vector<double> chosen_rewards = values(loss.chosen_rewards),
                      rejected_rewards = values(loss.rejected_rewards);
  for (int64_t i = 0; i < p; ++i) {
    EXPECT_NEAR(chosen_rewards[i], dpo["rewards_chosen"][i].get<double>(), reward_atol);
    EXPECT_NEAR(rejected_rewards[i], dpo["rewards_rejected"][i].get<double>(), reward_atol);
  }
  expect_rel(loss.loss.item<double>(), dpo["sigmoid_loss_mean"].get<double>(), 1e-4,
             "sigmoid loss");
  auto metrics = preference_batch_metrics(loss, forward.logps, forward.policy, p);
  EXPECT_EQ(metrics["rewards/accuracies"], dpo["rewards_accuracies_mean"].get<double>());
  EXPECT_NEAR(metrics["rewards/margins"], dpo["rewards_margins_mean"].get<double>(), reward_atol);
  double chosen_mean = 0;
  for (const auto& v : dpo["rewards_chosen"])
    chosen_mean += v.get<double>() / static_cast<double>(p);
  EXPECT_NEAR(metrics["rewards/chosen"], chosen_mean, reward_atol);
  double rejected_mean = 0;
  for (const auto& v : dpo["rewards_rejected"])
    rejected_mean += v.get<double>() / static_cast<double>(p);
  EXPECT_NEAR(metrics["rewards/rejected"], rejected_mean, reward_atol);
  double logps_chosen_mean = 0;
  for (const auto& v : dpo["policy_logps_chosen"])
    logps_chosen_mean += v.get<double>() / static_cast<double>(p);
  expect_rel(metrics["logps/chosen"], logps_chosen_mean, 1e-4, "logps/chosen");

  // Gradients of the mean sigmoid loss for all 28 LoRA tensors.
  loss.loss.backward();
  auto params = lora.named_parameters();
  ASSERT_EQ(params.size(), dpo["grad_param_names"].size());
  for (const auto& [name, tensor] : params) {
    std::string key =
        "grad." + name.substr(0, name.size() - std::string(".weight").size()) + ".default.weight";
    ASSERT_TRUE(f.tensors.count(key)) << key;
    const at::Tensor& expected = f.tensors.at(key);
    double scale = expected.abs().max().item<double>();
    EXPECT_TRUE(at::allclose(tensor.grad(), expected, 1e-4, 1e-5 * scale))
        << key << " max diff " << (tensor.grad() - expected).abs().max().item<double>() << " of "
        << scale;
  }
  double norm = clip_grad_norm(lora.parameters(), 0.0);
  expect_rel(norm, dpo["grad_total_norm"].get<double>(), 1e-4, "grad total norm");

  // One AdamW step (torch defaults, lr 1e-2), then the loss again.
  AdamW adam({ParamGroup{params, 0.0}}, AdamWOptions{1e-2, 0.9, 0.999, 1e-8});
  adam.step();
  adam.zero_grad();
  {
    at::NoGradGuard no_grad;
    expect_rel(dpo_loss(model, lora, batch, beta).loss.item<double>(),
               dpo["sigmoid_loss_after_adamw_lr1e-2"].get<double>(), 1e-4, "loss after AdamW");
  }

  // The fixture merged the adapter after that step: merged weight and log-prob.
  lora.merge_and_unload();
  at::Tensor merged_q;
  for (auto& [name, linear] : model.named_linears())
    if (name == "model.layers.0.self_attn.q_proj") merged_q = linear->weight;
  // rtol 1e-4 with an absolute floor of 1e-4 of the tensor's scale: AdamW's first step moves
  // every element by about lr whatever its gradient, so a near-zero gradient element turns
  // float32 summation-order noise (which differs between CPUs) into a visible difference.
  const at::Tensor& expected_q = f.tensors.at("merged.layers.0.self_attn.q_proj.weight");
  const double scale = expected_q.abs().max().item<double>();
  EXPECT_TRUE(at::allclose(merged_q, expected_q, 1e-4, 1e-4 * scale))
      << "max |diff| " << (merged_q - expected_q).abs().max().item<double>() << " at max |w| "
      << expected_q.abs().max().item<double>();
  at::NoGradGuard no_grad;
  TokenBatch one = make_preference_batch({f.pairs[0]}, BatchLayout::kPadded, 0);
  Reference plain = Reference::adapters_off(nullptr);
  PreferenceForward merged = preference_forward(model, one, LogProbOptions{}, plain);
  expect_rel(merged.logps.chosen_logps.item<double>(),
             f.expected["merged_logps_pair0_chosen"].get<double>(), 1e-4, "merged log-prob");
}

TEST_P(PeftFixture, FreshAdapterStartsAtLn2) {
  Fixture f = load_fixture(GetParam());
  LlamaModel model = LlamaModel::load(f.dir / "model", at::kFloat, at::kCPU);
  LoraConfig config;
  config.r = 4;
  config.lora_alpha = 8;
  LoraModel lora = LoraModel::create(model, config, 42);
  TokenBatch batch = make_preference_batch(f.pairs, BatchLayout::kPadded, 0);
  PreferenceForward forward;
  LossOutput loss = dpo_loss(model, lora, batch, 0.1, &forward);
  EXPECT_NEAR(loss.loss.item<double>(), std::log(2.0), 1e-6);
  EXPECT_EQ(loss.chosen_rewards.abs().max().item<double>(), 0.0);
  EXPECT_EQ(loss.rejected_rewards.abs().max().item<double>(), 0.0);
  auto metrics = preference_batch_metrics(loss, forward.logps, forward.policy, batch.num_pairs);
  EXPECT_EQ(metrics["rewards/accuracies"], 0.0);
  EXPECT_EQ(metrics["rewards/margins"], 0.0);
  expect_all_rel(forward.logps.ref_chosen_logps, f.expected["base_logps_chosen"], 1e-4,
                 "base chosen");
  // B = 0: A gets no gradient, B does.
  loss.loss.backward();
  EXPECT_EQ(lora.modules()[0].adapter->lora_A().grad().abs().max().item<double>(), 0.0);
  EXPECT_GT(clip_grad_norm(lora.parameters(), 0.0), 0.0);
}

TEST_P(PeftFixture, SavedAdapterMatchesPeftsFilesAndReloadsIdentically) {
  Fixture f = load_fixture(GetParam());
  LlamaModel model = LlamaModel::load(f.dir / "model", at::kFloat, at::kCPU);
  LoraModel lora = LoraModel::load(model, f.dir / "adapter");
  fs::path out =
      fs::temp_directory_path() / ("dpo_peft_fixture_" + GetParam() + std::to_string(::getpid()));
  fs::remove_all(out);
  lora.save(out);

  auto theirs = SafetensorsFile::open(f.dir / "adapter" / "adapter_model.safetensors");
  auto ours = SafetensorsFile::open(out / "adapter_model.safetensors");
  std::vector<std::string> their_names = theirs->names(), our_names = ours->names();
  EXPECT_EQ(std::set<std::string>(our_names.begin(), our_names.end()),
            std::set<std::string>(their_names.begin(), their_names.end()));
  for (const auto& name : their_names) {
    EXPECT_EQ(ours->shape(name), theirs->shape(name)) << name;
    EXPECT_EQ(ours->dtype(name), theirs->dtype(name)) << name;
    EXPECT_TRUE(at::equal(ours->load(name), theirs->load(name))) << name;
  }
  EXPECT_EQ(ours->metadata(), theirs->metadata());
  nlohmann::json their_config =
      nlohmann::json::parse(read_file(f.dir / "adapter" / "adapter_config.json"));
  nlohmann::json our_config = nlohmann::json::parse(read_file(out / "adapter_config.json"));
  std::set<std::string> their_keys, our_keys;
  for (const auto& [key, value] : their_config.items()) their_keys.insert(key);
  for (const auto& [key, value] : our_config.items()) our_keys.insert(key);
  EXPECT_EQ(our_keys, their_keys);
  EXPECT_EQ(our_config, their_config);

  TokenBatch batch = make_preference_batch(f.pairs, BatchLayout::kPadded, 0);
  at::NoGradGuard no_grad;
  Reference source = Reference::adapters_off(&lora);
  PreferenceForward before = preference_forward(model, batch, LogProbOptions{}, source);
  LlamaModel fresh = LlamaModel::load(f.dir / "model", at::kFloat, at::kCPU);
  LoraModel reloaded = LoraModel::load(fresh, out);
  Reference reloaded_source = Reference::adapters_off(&reloaded);
  PreferenceForward after = preference_forward(fresh, batch, LogProbOptions{}, reloaded_source);
  EXPECT_TRUE(at::equal(before.policy.logps, after.policy.logps));
  fs::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(Kinds, PeftFixture, ::testing::Values("llama", "llama3rope", "qwen2"));

}  // namespace
}  // namespace dpo
