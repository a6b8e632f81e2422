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
  VarlenLayout layout = build_varlen_layout(segments, at::kCPU);
  EXPECT_EQ(layout.cu_seqlens.scalar_type(), at::kInt);
  EXPECT_EQ(values(layout.cu_seqlens), (std::vector<int64_t>{0, 2, 5, 6, 12}));
  EXPECT_EQ(layout.max_seqlen, 6);
  // Equal ids in consecutive rows are still two sequences.
  at::Tensor same = at::zeros({3, 2}, at::kLong);
  EXPECT_EQ(values(build_varlen_layout(same, at::kCPU).cu_seqlens),
            (std::vector<int64_t>{0, 2, 4, 6}));
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
  at::Tensor varlen =
      varlen_attention(stream(q), stream(k), stream(v), build_varlen_layout(segments, at::kCPU),
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
