// Variable-length attention: the layout built from packed segment ids, and the reference path
// against the dense masked attention it replaces (the flash kernel itself: tests/model/cuda_test).
#include <gtest/gtest.h>

#include "model/attention.h"
#include "model/varlen_attention.h"

using namespace dpo;

namespace {

std::vector<int64_t> values(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

}  // namespace

TEST(VarlenLayout, SequencesStartAtRowStartsAndSegmentChanges) {
  // Row 0: a sequence of 2, one of 3, one padding token; row 1: one sequence of 6.
  at::Tensor segments =
      at::tensor({0, 0, 1, 1, 1, -1, 0, 0, 0, 0, 0, 0}, at::kLong).reshape({2, 6});
  VarlenLayout layout = build_varlen_layout(segments, at::Tensor(), at::kCPU);
  EXPECT_EQ(layout.cu_seqlens_q.scalar_type(), at::kInt);
  EXPECT_EQ(values(layout.cu_seqlens_q), (std::vector<int64_t>{0, 2, 5, 6, 12}));
  EXPECT_EQ(values(layout.cu_seqlens_k), values(layout.cu_seqlens_q));
  EXPECT_FALSE(layout.gathers_keys());
  EXPECT_EQ(layout.max_seqlen_q, 6);
  EXPECT_EQ(layout.max_seqlen_k, 6);
  // Equal ids in consecutive rows are still two sequences.
  at::Tensor same = at::zeros({3, 2}, at::kLong);
  EXPECT_EQ(values(build_varlen_layout(same, at::Tensor(), at::kCPU).cu_seqlens_q),
            (std::vector<int64_t>{0, 2, 4, 6}));
}

// Prompt sharing: row [p p c r r | p c c r | pad], two pairs (prompt 2 and 1 tokens).
at::Tensor shared_segments() {
  return at::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1, -1}, at::kLong).reshape({1, 10});
}
at::Tensor shared_branches() {
  return at::tensor({0, 0, 1, 2, 2, 0, 1, 1, 2, 0}, at::kLong).reshape({1, 10});
}

TEST(VarlenLayout, SharedPrefixBranchesSeeThePrefixAndThemselves) {
  VarlenLayout layout = build_varlen_layout(shared_segments(), shared_branches(), at::kCPU);
  // Query sequences: prompt+chosen [0, 3), rejected [3, 5), prompt+chosen [5, 8), rejected
  // [8, 9), the padding [9, 10).
  EXPECT_EQ(values(layout.cu_seqlens_q), (std::vector<int64_t>{0, 3, 5, 8, 9, 10}));
  ASSERT_TRUE(layout.gathers_keys());
  // Their keys: themselves, the rejected ones after their pair's prompt.
  EXPECT_EQ(values(layout.key_index),
            (std::vector<int64_t>{0, 1, 2, 0, 1, 3, 4, 5, 6, 7, 5, 8, 9}));
  EXPECT_EQ(values(layout.cu_seqlens_k), (std::vector<int64_t>{0, 3, 7, 10, 12, 13}));
  EXPECT_EQ(layout.max_seqlen_q, 3);
  EXPECT_EQ(layout.max_seqlen_k, 4);
  // Without a prompt, each branch is a sequence of its own.
  at::Tensor segments = at::tensor({0, 0, 0}, at::kLong).reshape({1, 3});
  at::Tensor branches = at::tensor({1, 1, 2}, at::kLong).reshape({1, 3});
  VarlenLayout no_prompt = build_varlen_layout(segments, branches, at::kCPU);
  EXPECT_EQ(values(no_prompt.cu_seqlens_q), (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(values(no_prompt.key_index), (std::vector<int64_t>{0, 1, 2}));
}

TEST(VarlenAttention, SharedPrefixEqualsMaskedAttention) {
  at::manual_seed(11);
  const int64_t N = 1, T = 10, H = 4, Hkv = 2, D = 8;
  at::Tensor q = at::randn({N, H, T, D}), k = at::randn({N, Hkv, T, D}),
             v = at::randn({N, Hkv, T, D});
  ModelInput input;
  input.input_ids = at::zeros({N, T}, at::kLong);
  input.segment_ids = shared_segments();
  input.branch_ids = shared_branches();
  auto stream = [&](const at::Tensor& x) {  // (N, heads, T, D) -> (N*T, heads, D)
    return x.transpose(1, 2).reshape({N * T, x.size(1), D});
  };
  const VarlenLayout layout = build_varlen_layout(input.segment_ids, input.branch_ids, at::kCPU);
  at::Tensor real = input.segment_ids.ge(0).reshape({N * T});
  std::vector<AttentionBackend> backends{AttentionBackend::kPlain};
  if (default_attention_backend() == AttentionBackend::kSdpa)
    backends.push_back(AttentionBackend::kSdpa);
  for (AttentionBackend backend : backends) {
    at::Tensor dense = attention(q, k, v, build_allowed_mask(input, T, at::kCPU), backend);
    at::Tensor varlen = varlen_attention(stream(q), stream(k), stream(v), layout, backend);
    ASSERT_EQ(varlen.sizes(), (std::vector<int64_t>{N * T, H, D}));
    EXPECT_TRUE(at::allclose(varlen.index({real}), stream(dense).index({real}), 1e-5, 1e-6))
        << "backend " << static_cast<int>(backend);
  }
}

TEST(VarlenAttention, EqualsMaskedAttentionWithGroupedHeads) {
  at::manual_seed(7);
  const int64_t N = 2, T = 6, H = 4, Hkv = 2, D = 8;
  at::Tensor segments =
      at::tensor({0, 0, 1, 1, 1, -1, 0, 0, 0, 1, 1, 1}, at::kLong).reshape({N, T});
  at::Tensor q = at::randn({N, H, T, D}), k = at::randn({N, Hkv, T, D}),
             v = at::randn({N, Hkv, T, D});
  ModelInput input;
  input.input_ids = at::zeros({N, T}, at::kLong);
  input.segment_ids = segments;
  at::Tensor dense = attention(q, k, v, build_allowed_mask(input, T, at::kCPU),
                               AttentionBackend::kPlain);  // (N, H, T, D)
  auto stream = [&](const at::Tensor& x) {                 // (N, heads, T, D) -> (N*T, heads, D)
    return x.transpose(1, 2).reshape({N * T, x.size(1), D});
  };
  at::Tensor varlen = varlen_attention(stream(q), stream(k), stream(v),
                                       build_varlen_layout(segments, at::Tensor(), at::kCPU),
                                       AttentionBackend::kPlain);
  ASSERT_EQ(varlen.sizes(), (std::vector<int64_t>{N * T, H, D}));
  at::Tensor real = segments.ge(0).reshape({N * T});
  EXPECT_TRUE(at::allclose(varlen.index({real}), stream(dense).index({real}), 1e-5, 1e-6));
}

TEST(VarlenPolicy, ChoosesTheVarlenPathWhereAsked) {
  AttentionChoice choice;
  EXPECT_EQ(choice.varlen, VarlenPolicy::kAuto);
  // The CPU: sequence by sequence (faster than the mask there).
  EXPECT_TRUE(uses_varlen_attention(at::kCPU, at::kFloat, 8, choice));
  EXPECT_TRUE(uses_varlen_attention(at::kCPU, at::kBFloat16, 64, choice));
  choice.varlen = VarlenPolicy::kAlways;
  EXPECT_TRUE(uses_varlen_attention(at::kCPU, at::kFloat, 8, choice));
  choice.varlen = VarlenPolicy::kNever;
  EXPECT_FALSE(uses_varlen_attention(at::kCPU, at::kFloat, 8, choice));
}
