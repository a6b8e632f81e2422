// The fixture checks on CUDA in bf16 (per-token log-probs within 5e-2 absolute), both attention
// backends where libtorch has SDPA; packed rows through the flash varlen kernel against the
// segment mask, forward and gradients, and prompt-sharing rows (a later branch's keys: the
// prompt's, then its own) against the prompt-sharing mask. Skipped without a CUDA device. Its own
// binary (test_cuda), so that the GPU bundle (scripts/gpu_bundle.sh) carries it without the CPU
// suites.
#include <ATen/Context.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include "data/batch.h"
#include "model/attention.h"
#include "model/fixture_util.h"
#include "model/generate.h"
#include "model/llama.h"
#include "model/varlen_attention.h"
#include "train/fixture_pairs.h"
#include "util/torch_compat.h"

using namespace dpo;
using namespace dpo::testing;

namespace {

const char* const kNoCuda =
    "no CUDA device visible (or a CPU-only libtorch): the CUDA tests run on a GPU machine";

void check_fixture_on_cuda(const std::string& kind, AttentionBackend backend) {
  Fixture fixture = load_fixture(kind);
  auto model =
      LlamaModel::load(fixture_dir(kind) / "model", at::kBFloat16, at::Device(at::kCUDA, 0));
  AttentionChoice choice;
  choice.backend = backend;
  model.set_attention(choice);
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
              kind.c_str(), backend == AttentionBackend::kSdpa ? "sdpa" : "plain", worst);
}

}  // namespace

TEST(Cuda, FixturesInBf16) {
  if (!at::hasCUDA()) GTEST_SKIP() << kNoCuda;
  std::vector<AttentionBackend> backends = {AttentionBackend::kPlain};
  if (compat::kHasSdpa) backends.push_back(AttentionBackend::kSdpa);
  for (AttentionBackend backend : backends)
    for (const char* kind : {"llama", "llama3rope", "qwen2"}) check_fixture_on_cuda(kind, backend);
}

TEST(Cuda, GreedyGenerationRuns) {
  if (!at::hasCUDA()) GTEST_SKIP() << kNoCuda;
  auto model =
      LlamaModel::load(fixture_dir("llama") / "model", at::kBFloat16, at::Device(at::kCUDA, 0));
  GenerationOptions options;
  options.max_new_tokens = 8;
  EXPECT_EQ(generate(model, {1, 415, 5565}, options).size(), 8u);
}

namespace {

// Log-probs of every position's own next token in the packed rows, fp32: (N, T-1).
at::Tensor packed_logps(const LlamaModel& model, const ModelInput& input) {
  at::Tensor logits = model.logits(model.forward_hidden(input)).to(at::kFloat);  // (N, T, V)
  at::Tensor next = input.input_ids.narrow(1, 1, input.input_ids.size(1) - 1);   // (N, T-1)
  return logits.narrow(1, 0, next.size(1))
      .log_softmax(-1)
      .gather(2, next.unsqueeze(-1))
      .squeeze(-1);
}

// The scored log-probs `logps_of()` gives (differentiable, fp32) through the varlen path the
// model picks (kAuto: flash where it runs) and through the mask (kNever), and the gradients of
// the first layer's attention weights of their sum: equal within bf16 noise. `what` names the
// rows in the printed line.
void expect_varlen_equals_mask(LlamaModel& model, const std::function<at::Tensor()>& logps_of,
                               const char* what) {
  std::vector<at::Tensor> weights;
  for (auto& [name, w] : model.named_parameters())
    if (name.find("layers.0.self_attn") != std::string::npos) weights.push_back(w);
  auto run = [&](VarlenPolicy policy, std::vector<at::Tensor>* grads) {
    AttentionChoice choice;
    choice.varlen = policy;
    model.set_attention(choice);
    for (at::Tensor& w : weights) w.requires_grad_(true);
    at::Tensor logps = logps_of();
    logps.sum().backward();
    for (at::Tensor& w : weights) {
      grads->push_back(w.grad().to(at::kFloat).cpu());
      w.mutable_grad() = at::Tensor();
      w.requires_grad_(false);
    }
    return logps.detach().cpu();
  };
  std::vector<at::Tensor> flash_grads, mask_grads;
  at::Tensor flash = run(VarlenPolicy::kAuto, &flash_grads);
  at::Tensor masked = run(VarlenPolicy::kNever, &mask_grads);
  const double logp_diff = max_abs_diff(flash, masked);
  EXPECT_LE(logp_diff, 5e-2) << what;
  double worst = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double relative =
        max_abs_diff(flash_grads[i], mask_grads[i]) / mask_grads[i].abs().max().item<double>();
    worst = std::max(worst, relative);
    EXPECT_LE(relative, 5e-2) << what << ", weight " << i;
  }
  std::printf(
      "  %s, flash varlen vs mask (bf16): log-prob max abs diff %.3g, gradient max diff / "
      "largest %.3g\n",
      what, logp_diff, worst);
}

// The completion-token log-probs of a batch, fp32: (M), in row-major order.
at::Tensor completion_logps(const LlamaModel& model, const TokenBatch& batch) {
  at::Tensor logits = model.logits(model.forward_hidden(batch.input)).to(at::kFloat);  // (N, T, V)
  at::Tensor flat = logits.reshape({-1, logits.size(-1)});                             // (N*T, V)
  at::Tensor scored = batch.completion_mask.reshape({-1}).nonzero().squeeze(1);        // (M)
  at::Tensor from = batch.logit_index.reshape({-1}).index_select(0, scored);           // (M)
  at::Tensor tokens = batch.input.input_ids.reshape({-1}).index_select(0, scored);     // (M)
  return flat.index_select(0, from).log_softmax(-1).gather(1, tokens.unsqueeze(1)).squeeze(1);
}

}  // namespace

TEST(Cuda, PackedRowsThroughFlashVarlenEqualTheSegmentMask) {
  if (!at::hasCUDA()) GTEST_SKIP() << kNoCuda;
  const at::Device cuda(at::kCUDA, 0);
  Fixture fixture = load_fixture("llama");
  auto model = LlamaModel::load(fixture_dir("llama") / "model", at::kBFloat16, cuda);
  ModelInput packed = packed_fixture_input(fixture, {{0, 1, 2}, {3, 4}}, 3);
  packed.input_ids = packed.input_ids.to(cuda);
  packed.segment_ids = packed.segment_ids.to(cuda);
  if (compat::kHasFlashVarlen) {
    EXPECT_TRUE(model.packed_rows_use_varlen_attention())
        << "the flash varlen kernel was not taken (see the warning above, if any)";
  }
  // Real query positions whose next token is in the same sequence.
  at::Tensor seg = packed.segment_ids;
  at::Tensor scored = (seg.narrow(1, 0, seg.size(1) - 1) == seg.narrow(1, 1, seg.size(1) - 1))
                          .logical_and(seg.narrow(1, 0, seg.size(1) - 1).ge(0));
  expect_varlen_equals_mask(
      model, [&] { return packed_logps(model, packed).masked_select(scored); }, "packed rows");
}

TEST(Cuda, PromptSharingRowsThroughFlashVarlenEqualTheMask) {
  if (!at::hasCUDA()) GTEST_SKIP() << kNoCuda;
  const at::Device cuda(at::kCUDA, 0);
  auto model = LlamaModel::load(fixture_dir("llama") / "model", at::kBFloat16, cuda);
  if (compat::kHasFlashVarlen) {
    EXPECT_TRUE(model.packed_rows_use_varlen_attention(/*shared_prefix=*/true))
        << "the flash varlen kernel with a shared prefix was not taken (see the warning above)";
  }
  const TokenBatch batch = to_device(
      make_preference_batch(fixture_pairs("llama"), BatchLayout::kPromptSharing, 0), cuda);
  expect_varlen_equals_mask(
      model, [&] { return completion_logps(model, batch); }, "prompt-sharing rows");
}
