#include "model/attention.h"

#include <cmath>
#include <limits>

#include "util/error.h"
#include "util/torch_compat.h"

namespace dpo {

namespace {

// (N, Hkv, S, D) -> (N, Hkv * groups, S, D): each kv head serves `groups` query heads.
at::Tensor repeat_kv(const at::Tensor& x, int64_t groups) {
  if (groups == 1) return x;
  int64_t N = x.size(0), Hkv = x.size(1), S = x.size(2), D = x.size(3);
  return x.unsqueeze(2).expand({N, Hkv, groups, S, D}).reshape({N, Hkv * groups, S, D});
}

// (T, S) bool: query i (absolute position S - T + i) may see keys j <= S - T + i.
at::Tensor causal_mask(int64_t T, int64_t S, at::Device device) {
  auto options = at::TensorOptions().dtype(at::kBool).device(device);
  return at::ones({T, S}, options).tril(S - T);
}

at::Tensor plain_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const at::Tensor& allowed, double softcap) {
  int64_t groups = q.size(1) / k.size(1);
  at::Tensor keys = repeat_kv(k, groups);    // (N, H, S, D)
  at::Tensor values = repeat_kv(v, groups);  // (N, H, S, D)
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = at::matmul(q, keys.transpose(2, 3)) * scale;  // (N, H, T, S)
  if (softcap > 0) scores = at::tanh(scores / softcap) * softcap;
  at::Tensor mask = allowed.defined() ? allowed : causal_mask(q.size(2), k.size(2), q.device());
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(probs, values);  // (N, H, T, D)
}

at::Tensor sdpa_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& allowed) {
  int64_t groups = q.size(1) / k.size(1);
  bool native_gqa = compat::kSdpaHasGqa && groups > 1;
  at::Tensor keys = native_gqa ? k : repeat_kv(k, groups);
  at::Tensor values = native_gqa ? v : repeat_kv(v, groups);
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  int64_t T = q.size(2), S = k.size(2);
  at::Tensor mask = allowed;
  bool is_causal = false;
  if (!mask.defined()) {
    if (T == S)
      is_causal = true;  // lets the flash kernels run
    else
      mask = causal_mask(T, S, q.device());
  }
  return compat::scaled_dot_product_attention(q, keys, values, mask, is_causal, scale, native_gqa);
}

}  // namespace

AttentionBackend default_attention_backend() {
  return compat::kHasSdpa ? AttentionBackend::kSdpa : AttentionBackend::kPlain;
}

at::Tensor resolve_position_ids(const ModelInput& input) {
  if (input.position_ids.defined()) return input.position_ids;
  int64_t N = input.input_ids.size(0), T = input.input_ids.size(1);
  auto options = at::TensorOptions().dtype(at::kLong).device(input.input_ids.device());
  at::Tensor steps = at::arange(T, options).unsqueeze(0).expand({N, T});  // (N, T)
  if (!input.segment_ids.defined()) return steps.contiguous();
  // Packed layout: position = t - (first t of this segment).
  at::Tensor starts = at::ones({N, T}, options.dtype(at::kBool));
  if (T > 1) {
    at::Tensor changed =
        input.segment_ids.narrow(1, 1, T - 1) != input.segment_ids.narrow(1, 0, T - 1);
    starts.narrow(1, 1, T - 1).copy_(changed);
  }
  at::Tensor segment_start = std::get<0>(at::where(starts, steps, at::zeros_like(steps)).cummax(1));
  return steps - segment_start;
}

at::Tensor build_allowed_mask(const ModelInput& input, int64_t T, at::Device device) {
  at::Tensor allowed;                                          // (N, T, T)
  at::Tensor causal = causal_mask(T, T, device).unsqueeze(0);  // (1, T, T)
  if (input.allowed.defined()) {
    allowed = input.allowed.to(device, at::kBool).logical_and(causal);
  } else if (input.segment_ids.defined()) {
    at::Tensor seg = input.segment_ids.to(device);
    allowed = (seg.unsqueeze(2) == seg.unsqueeze(1)).logical_and(causal);
    if (input.branch_ids.defined()) {  // prompt sharing: the prefix, or the query's own branch
      at::Tensor branch = input.branch_ids.to(device);
      at::Tensor same_branch = branch.unsqueeze(2) == branch.unsqueeze(1);  // (N, T, T)
      allowed = allowed.logical_and(same_branch.logical_or(branch.eq(0).unsqueeze(1)));
    }
  } else if (input.attention_mask.defined()) {
    at::Tensor real_keys = input.attention_mask.to(device).ne(0).unsqueeze(1);  // (N, 1, T)
    allowed = real_keys.logical_and(causal);
  } else {
    return at::Tensor();
  }
  at::Tensor self = at::eye(T, at::TensorOptions().dtype(at::kBool).device(device)).unsqueeze(0);
  return allowed.logical_or(self).unsqueeze(1);  // (N, 1, T, T)
}

at::Tensor sliding_window_mask(const at::Tensor& allowed, const at::Tensor& query_positions,
                               const at::Tensor& key_positions, int64_t window) {
  const int64_t T = query_positions.size(1), S = key_positions.size(1);
  at::Tensor base = allowed.defined()
                        ? allowed
                        : causal_mask(T, S, query_positions.device()).unsqueeze(0).unsqueeze(0);
  at::Tensor distance = query_positions.unsqueeze(2) - key_positions.unsqueeze(1);  // (N, T, S)
  return base.logical_and(distance.lt(window).unsqueeze(1));                        // (N, 1, T, S)
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& allowed, AttentionBackend backend, double softcap) {
  if (backend == AttentionBackend::kSdpa && softcap <= 0) {
    DPO_CHECK(compat::kHasSdpa, "scaled_dot_product_attention needs libtorch >= 2 (this is {})",
              compat::torch_version());
    return sdpa_attention(q, k, v, allowed);
  }
  return plain_attention(q, k, v, allowed, softcap);
}

}  // namespace dpo
