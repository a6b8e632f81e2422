// The fixture checks on CUDA in bf16 (per-token log-probs within 5e-2 absolute), both attention
// backends where libtorch has SDPA. Skipped without a CUDA device.
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include "model/attention.h"
#include "model/fixture_util.h"
#include "model/generate.h"
#include "model/llama.h"
#include "util/torch_compat.h"

using namespace dpo;
using namespace dpo::testing;

namespace {

void check_fixture_on_cuda(const std::string& kind) {
  Fixture fixture = load_fixture(kind);
  auto model =
      LlamaModel::load(fixture_dir(kind) / "model", at::kBFloat16, at::Device(at::kCUDA, 0));
  at::NoGradGuard no_grad;
  double worst = 0;
  for (const auto& [name, ids] : fixture.sequences) {
    ModelInput input;
    input.input_ids = ids_tensor(ids).to(at::kCUDA);
    at::Tensor logits = model.logits(model.forward_hidden(input)).squeeze(0);  // (T, V) bf16
    at::Tensor logps = token_logps(logits, at::tensor(ids, at::kLong)).cpu();
    at::Tensor expected = fixture.tensors.at("base." + name + ".token_logps");
    double diff = max_abs_diff(logps, expected);
    worst = std::max(worst, diff);
    EXPECT_LE(diff, 5e-2) << kind << " " << name;
  }
  std::printf("  %s on CUDA bf16 (%s attention): per-token log-prob max abs diff %.3g\n",
              kind.c_str(), attention_backend() == AttentionBackend::kSdpa ? "sdpa" : "plain",
              worst);
}

}  // namespace

TEST(Cuda, FixturesInBf16) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  AttentionBackend original = attention_backend();
  std::vector<AttentionBackend> backends = {AttentionBackend::kPlain};
  if (compat::kHasSdpa) backends.push_back(AttentionBackend::kSdpa);
  for (AttentionBackend backend : backends) {
    set_attention_backend(backend);
    for (const char* kind : {"llama", "llama3rope", "qwen2"}) check_fixture_on_cuda(kind);
  }
  set_attention_backend(original);
}

TEST(Cuda, GreedyGenerationRuns) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  auto model =
      LlamaModel::load(fixture_dir("llama") / "model", at::kBFloat16, at::Device(at::kCUDA, 0));
  GenerationOptions options;
  options.max_new_tokens = 8;
  EXPECT_EQ(generate(model, {1, 415, 5565}, options).size(), 8u);
}
