// The architectures beyond the committed fixtures (qwen3's q/k norms and explicit head_dim,
// smollm3's layers without RoPE, sliding windows in mistral/qwen2/qwen3/smollm3) against
// transformers 5.23 + peft 0.21, float32 on the CPU: logits, hidden states, token log-probs in
// every batch layout, greedy generation with the KV cache, LoRA log-probs and gradients, and the
// merge (ours, then read back by transformers). The reference models are drawn at test time by
// tests/model/architecture_reference.py (seeded; nothing committed). Here rather than in
// tests/model because the LoRA and merge checks need the lora layer.
// Shape legend: T time, V vocab, C hidden.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lora/lora_model.h"
#include "lora/merge.h"
#include "model/attention.h"
#include "model/fixture_util.h"
#include "model/generate.h"
#include "model/llama.h"
#include "python_reference.h"
#include "util/fs.h"

using namespace dpo;
using namespace dpo::testing;
namespace fs = std::filesystem;

namespace {

constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;

const std::vector<std::string> kCases = {
    "qwen3",           "qwen3_bias_tied", "qwen3_sliding",      "smollm3",        "smollm3_sliding",
    "mistral_sliding", "qwen2_sliding",   "llama_yarn",         "qwen3_longrope", "gemma2",
    "gemma2_untied",   "gemma3_text",     "gemma3_text_scaled", "phi3",           "phi3_longrope"};

std::string script() {
  return std::string(DPO_SOURCE_DIR) + "/tests/model/architecture_reference.py";
}

std::string shell_quote(const std::string& s) {
  return "'" + s + "'";
}

// Every case drawn once per build, not once per test: ctest runs each test in a process of its
// own, some at once. The folder beside the test binaries is keyed by the script's text, made under
// a lock and renamed into place only when complete. Empty when the script failed.
const fs::path& references() {
  static const fs::path dir = [] {
    const size_t key = std::hash<std::string>{}(read_file(script()));
    const fs::path d =
        fs::path(DPO_BINARY).parent_path() / ("architecture_references_" + std::to_string(key));
    const std::string make =
        "test -d \"$0\" || { rm -rf \"$0.tmp\" && \"$1\" \"$2\" \"$0.tmp\" > \"$0.log\" 2>&1 && "
        "mv \"$0.tmp\" \"$0\"; }";
    const std::string command = "flock " + shell_quote(d.string() + ".lock") + " sh -c " +
                                shell_quote(make) + " " + shell_quote(d.string()) + " " +
                                shell_quote(DPO_PYTHON) + " " + shell_quote(script());
    if (std::system(command.c_str()) != 0 || !fs::is_directory(d)) return fs::path();
    return d;
  }();
  return dir;
}

class Architecture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (references().empty()) {  // asked only then: each ask imports the modules anew (seconds)
      const std::string missing = missing_python_modules({"transformers", "peft", "torch"});
      if (!missing.empty() && !running_under_ci()) GTEST_SKIP() << missing;
      FAIL() << (missing.empty() ? "architecture_reference.py failed; see its .log beside "
                                   "the test binaries"
                                 : missing);
    }
    folder = references() / GetParam();
    expected = nlohmann::json::parse(read_file(folder / "expected.json"));
    tensors = load_safetensors(folder / "expected.safetensors");
    for (const auto& ids : expected["sequences"]) sequences.push_back(ids);
    model = std::make_unique<LlamaModel>(LlamaModel::load(folder / "model", at::kFloat, at::kCPU));
  }
  at::Tensor logits_of(const std::vector<int64_t>& ids) const {
    ModelInput input;
    input.input_ids = ids_tensor(ids);
    return model->logits(model->forward_hidden(input)).squeeze(0);  // (T, V)
  }
  std::string key(const char* prefix, size_t i) const {
    return std::string(prefix) + "." + std::to_string(i);
  }
  fs::path folder;
  nlohmann::json expected;
  std::map<std::string, at::Tensor> tensors;
  std::vector<std::vector<int64_t>> sequences;
  std::unique_ptr<LlamaModel> model;
};

// log p(id_t | <t) for t = 1..T-1 from logits (T, V).
at::Tensor token_logps(const at::Tensor& logits, const std::vector<int64_t>& ids) {
  const int64_t T = static_cast<int64_t>(ids.size());
  at::Tensor logp = at::log_softmax(logits.narrow(0, 0, T - 1), -1);  // (T-1, V)
  at::Tensor next = at::tensor(std::vector<int64_t>(ids.begin() + 1, ids.end()), at::kLong);
  return logp.gather(1, next.unsqueeze(1)).squeeze(1);  // (T-1)
}

TEST_P(Architecture, ConfigReadsAsTransformersBuildsIt) {
  const ModelConfig& c = model->config();
  EXPECT_EQ(c.model_type, expected["model_type"].get<std::string>());
  nlohmann::json raw = nlohmann::json::parse(read_file(folder / "model" / "config.json"));
  if (raw.contains("layer_types") && raw.value("use_sliding_window", true)) {
    for (size_t i = 0; i < raw["layer_types"].size(); ++i)
      EXPECT_EQ(c.layer_is_sliding(i), raw["layer_types"][i] == "sliding_attention") << i;
  }
  if (raw.contains("no_rope_layers")) {
    for (size_t i = 0; i < raw["no_rope_layers"].size(); ++i)
      EXPECT_EQ(c.layer_uses_rope(i), raw["no_rope_layers"][i] == 1) << i;
  }
  // What we would write for this config reads back the same.
  ModelConfig again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_EQ(again.sliding_window, c.sliding_window);
  EXPECT_EQ(again.sliding_layers, c.sliding_layers);
  EXPECT_EQ(again.rope_layers, c.rope_layers);
  EXPECT_EQ(again.qk_norm, c.qk_norm);
  EXPECT_EQ(again.head_dim, c.head_dim);
  EXPECT_EQ(again.attention_bias, c.attention_bias);
  EXPECT_EQ(again.mlp_bias, c.mlp_bias);
  EXPECT_EQ(again.tie_word_embeddings, c.tie_word_embeddings);
  EXPECT_EQ(again.num_parameters(), c.num_parameters());
  int64_t counted = 0;
  for (const auto& [name, t] : model->named_parameters()) counted += t.numel();
  EXPECT_EQ(c.num_parameters(), counted);
}

TEST_P(Architecture, LogitsHiddenStatesAndLogProbsOfEachSequence) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < sequences.size(); ++i) {
    at::Tensor logits = logits_of(sequences[i]);
    expect_close(logits, tensors.at(key("base.logits", i)), kRtol, kAtol, key("logits", i));
    expect_close(token_logps(logits, sequences[i]), tensors.at(key("base.token_logps", i)), kRtol,
                 kAtol, key("token_logps", i));
  }
  ModelInput input;
  input.input_ids = ids_tensor(sequences[0]);
  auto hidden = model->forward_hidden_states(input);
  ASSERT_EQ(hidden.size(), static_cast<size_t>(model->config().num_hidden_layers + 1));
  for (size_t h = 0; h < hidden.size(); ++h)
    expect_close(hidden[h].squeeze(0), tensors.at(key("base.hidden", h)), kRtol, kAtol,
                 key("hidden", h));
}

// Right-padded rows and packed rows (dense mask and variable-length attention alike) give every
// sequence the logits it has alone.
TEST_P(Architecture, PaddedAndPackedBatchesEqualEachSequenceAlone) {
  at::NoGradGuard no_grad;
  const int64_t S = static_cast<int64_t>(sequences.size());
  int64_t width = 0, total = 0;
  for (const auto& ids : sequences) {
    width = std::max<int64_t>(width, static_cast<int64_t>(ids.size()));
    total += static_cast<int64_t>(ids.size());
  }
  ModelInput padded;
  padded.input_ids = at::zeros({S, width}, at::kLong);
  padded.attention_mask = at::zeros({S, width}, at::kLong);
  ModelInput packed;
  packed.input_ids = at::zeros({1, total}, at::kLong);
  packed.segment_ids = at::zeros({1, total}, at::kLong);
  int64_t offset = 0;
  for (int64_t s = 0; s < S; ++s) {
    const auto& ids = sequences[static_cast<size_t>(s)];
    const int64_t n = static_cast<int64_t>(ids.size());
    padded.input_ids[s].narrow(0, 0, n).copy_(ids_tensor(ids)[0]);
    padded.attention_mask[s].narrow(0, 0, n).fill_(1);
    packed.input_ids[0].narrow(0, offset, n).copy_(ids_tensor(ids)[0]);
    packed.segment_ids[0].narrow(0, offset, n).fill_(s);
    offset += n;
  }
  for (VarlenPolicy policy : {VarlenPolicy::kNever, VarlenPolicy::kAlways}) {
    model->set_attention({model->attention().backend, policy});
    at::Tensor rows = model->logits(model->forward_hidden(padded));    // (S, T, V)
    at::Tensor stream = model->logits(model->forward_hidden(packed));  // (1, total, V)
    offset = 0;
    for (int64_t s = 0; s < S; ++s) {
      const int64_t n = static_cast<int64_t>(sequences[static_cast<size_t>(s)].size());
      const at::Tensor& alone = tensors.at(key("base.logits", static_cast<size_t>(s)));
      std::string what = std::string(policy == VarlenPolicy::kAlways ? "varlen " : "masked ");
      // LongRoPE takes its long factors for a whole batch that passes the original length (as
      // transformers' dynamic_rope_update does): a shorter sequence in it is not as it is alone.
      const RopeConfig& rope = model->config().rope;
      const int64_t original = rope.original_max_position_embeddings;
      if (rope.type != "longrope" || n > original || width <= original) {
        expect_close(rows[s].narrow(0, 0, n), alone, kRtol, kAtol, what + key("padded", s));
        expect_close(stream[0].narrow(0, offset, n), alone, kRtol, kAtol, what + key("packed", s));
      }
      offset += n;
    }
  }
}

// Greedy decoding with the KV cache runs past the sliding window as transformers' generate does.
TEST_P(Architecture, GreedyGenerationEqualsTransformers) {
  GenerationOptions options;
  options.max_new_tokens = static_cast<int64_t>(expected["greedy"].size());
  const auto& prompt = sequences[expected["greedy_prompt"].get<size_t>()];
  EXPECT_EQ(generate(*model, prompt, options), expected["greedy"].get<std::vector<int64_t>>());
}

TEST_P(Architecture, LoraLogProbsAndGradientsEqualPeft) {
  LoraModel lora = LoraModel::load(*model, folder / "adapter");
  lora.set_requires_grad(true);
  at::Tensor total = at::zeros({}, at::kFloat);
  for (size_t i = 0; i < sequences.size(); ++i) {
    at::Tensor logps = token_logps(logits_of(sequences[i]), sequences[i]);
    expect_close(logps.detach(), tensors.at(key("lora.token_logps", i)), kRtol, kAtol,
                 key("lora.token_logps", i));
    total = total + logps.sum();
  }
  total.backward();
  size_t compared = 0;
  for (const auto& [name, parameter] : lora.named_parameters()) {
    ASSERT_TRUE(parameter.grad().defined()) << name;
    // Near-zero elements: within 1e-4 of the gradient's largest (sums of 27 tokens' terms
    // through every layer; gemma's scaled embeddings and tight soft-caps make the early layers'
    // gradients large: libtorch 1.13's kernels round them up to 3e-5 of the largest away from
    // torch 2.11's, elements near zero included).
    const at::Tensor& theirs = tensors.at("grad." + name);
    const double atol = 1e-4 * theirs.abs().max().item<double>();
    expect_close(parameter.grad(), theirs, kRtol, atol, "grad " + name);
    ++compared;
  }
  size_t expected_grads = 0;
  for (const auto& [name, t] : tensors) expected_grads += name.rfind("grad.", 0) == 0;
  EXPECT_EQ(compared, expected_grads);
}

// dpo's merge gives PEFT's merged logits, and the folder dpo writes reads in transformers as
// that same model.
TEST_P(Architecture, MergeEqualsPeftAndTransformersReadsIt) {
  at::NoGradGuard no_grad;
  LoraModel lora = LoraModel::load(*model, folder / "adapter");
  lora.merge_and_unload();
  at::Tensor ours = logits_of(sequences[0]);
  expect_close(ours, tensors.at("merged.logits.0"), kRtol, kAtol, "merged logits");
  const fs::path merged = fs::temp_directory_path() /
                          ("dpo_architecture_merge_" + std::to_string(::getpid())) / GetParam();
  fs::remove_all(merged);
  write_hf_model(*model, folder / "model", merged, at::kFloat, 1 << 30);
  std::string ids;
  for (int64_t id : sequences[0]) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  const fs::path out = merged.parent_path() / (GetParam() + ".logits");
  std::string command = shell_quote(DPO_PYTHON) + " " + shell_quote(script()) + " logits " +
                        shell_quote(merged.string()) + " " + ids + " " + shell_quote(out.string()) +
                        " > /dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::string bytes = read_file(out);
  ASSERT_EQ(bytes.size(), static_cast<size_t>(ours.numel()) * 4);
  at::Tensor theirs = at::from_blob(bytes.data(), ours.sizes(), at::kFloat).clone();
  expect_close(theirs, tensors.at("merged.logits.0"), kRtol, kAtol, "transformers on our merge");
}

INSTANTIATE_TEST_SUITE_P(HF, Architecture, ::testing::ValuesIn(kCases));

}  // namespace
