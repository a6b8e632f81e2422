#include "model/varlen_attention.h"

#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "model/attention.h"
#include "util/log.h"
#include "util/torch_compat.h"

namespace dpo {

namespace {

double softmax_scale(int64_t head_dim) {
  return 1.0 / std::sqrt(static_cast<double>(head_dim));
}

// Each sequence on its own through the dense backend (causal, no mask): the reference path.
at::Tensor sequence_by_sequence(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& cu_seqlens, AttentionBackend backend) {
  at::Tensor bounds = cu_seqlens.to(at::kCPU, at::kLong);
  const int64_t* b = bounds.data_ptr<int64_t>();
  std::vector<at::Tensor> outputs;
  for (int64_t s = 0; s + 1 < bounds.numel(); ++s) {
    // (l, H, D) -> (1, H, l, D) and back.
    auto heads_first = [&](const at::Tensor& x) {
      return x.narrow(0, b[s], b[s + 1] - b[s]).transpose(0, 1).unsqueeze(0);
    };
    at::Tensor y = attention(heads_first(q), heads_first(k), heads_first(v), at::Tensor(), backend);
    outputs.push_back(y.squeeze(0).transpose(0, 1));  // (l, H, D)
  }
  return at::cat(outputs, 0);  // (L, H, D)
}

// Runs the flash varlen kernel once on a small GQA case, forward and backward, against the
// reference path. False (with a warning when the kernel ran but disagreed) where it cannot be used.
bool probe_flash(at::Device device, at::ScalarType dtype, int64_t head_dim) {
  try {
    at::AutoGradMode grad_mode(true);
    // Fixed values, not the generator: probing must not move the random state of the run
    // (dropout, sampling), or a resumed run would differ from an uninterrupted one.
    auto values = [&](int64_t heads, double frequency) {
      auto options = at::TensorOptions().dtype(at::kFloat).device(device);
      return at::sin(at::arange(7 * heads * head_dim, options) * frequency)
          .reshape({7, heads, head_dim})
          .to(dtype);
    };
    at::Tensor q = values(4, 0.37).requires_grad_(true);  // (L, H, D)
    at::Tensor k = values(2, 0.53);                       // (L, Hkv, D)
    at::Tensor v = values(2, 0.71);
    at::Tensor cu = at::tensor(std::vector<int32_t>{0, 4, 5, 7}, at::kInt).to(device);
    at::Tensor out = compat::flash_varlen_attention(q, k, v, cu, 4, softmax_scale(head_dim));
    out.sum().backward();
    at::Tensor q_reference = q.detach().clone().requires_grad_(true);
    at::Tensor expected = sequence_by_sequence(q_reference, k, v, cu, AttentionBackend::kSdpa);
    expected.sum().backward();
    auto max_diff = [](const at::Tensor& a, const at::Tensor& b) {
      return (a.detach().to(at::kFloat) - b.detach().to(at::kFloat)).abs().max().item<double>();
    };
    const double diff = std::max(max_diff(out, expected),
                                 q.grad().defined() ? max_diff(q.grad(), q_reference.grad()) : 1.0);
    const bool agrees = diff < 5e-2;  // forward and query gradient, in bf16/fp16
    if (!agrees)
      log_warn(
          "flash varlen attention disagrees with the reference on {} (max abs diff {:.3g}); "
          "packed and padded rows use masked attention",
          device.str(), diff);
    return agrees;
  } catch (const std::exception& e) {
    log_warn(
        "flash varlen attention unavailable on {} ({}); packed and padded rows use masked "
        "attention",
        device.str(), e.what());
    return false;
  }
}

// Whether the flash varlen kernel runs here: a property of the hardware and libtorch, probed
// once per device, dtype and head dim (the answer is cached, it steers nothing).
bool flash_runs(at::Device device, at::ScalarType dtype, int64_t head_dim,
                AttentionBackend backend) {
  if (!compat::kHasFlashVarlen || !device.is_cuda()) return false;
  if (dtype != at::kBFloat16 && dtype != at::kHalf) return false;
  if (head_dim % 8 != 0 || head_dim > 256) return false;
  if (backend != AttentionBackend::kSdpa) return false;
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int64_t>, bool> probed;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_tuple(static_cast<int>(device.index()), static_cast<int>(dtype), head_dim);
  auto found = probed.find(key);
  if (found == probed.end())
    found = probed.emplace(key, probe_flash(device, dtype, head_dim)).first;
  return found->second;
}

}  // namespace

VarlenLayout build_varlen_layout(const at::Tensor& segment_ids, at::Device device) {
  at::Tensor seg = segment_ids.to(at::kCPU, at::kLong).contiguous();  // (N, T)
  const int64_t N = seg.size(0), T = seg.size(1);
  at::Tensor starts = at::ones({N, T}, at::kBool);  // a sequence starts at every row start...
  if (T > 1) starts.narrow(1, 1, T - 1).copy_(seg.narrow(1, 1, T - 1) != seg.narrow(1, 0, T - 1));
  at::Tensor first = starts.reshape({N * T}).nonzero().squeeze(1);    // (B) ...and at every change
  at::Tensor cu = at::cat({first, at::full({1}, N * T, at::kLong)});  // (B + 1)
  VarlenLayout layout;
  layout.max_seqlen = N * T == 0
                          ? 0
                          : (cu.narrow(0, 1, cu.numel() - 1) - cu.narrow(0, 0, cu.numel() - 1))
                                .max()
                                .item<int64_t>();
  layout.cu_seqlens = cu.to(at::kInt).to(device);
  return layout;
}

at::Tensor varlen_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const VarlenLayout& layout, AttentionBackend backend) {
  if (flash_runs(q.device(), q.scalar_type(), q.size(-1), backend))
    return compat::flash_varlen_attention(q, k, v, layout.cu_seqlens, layout.max_seqlen,
                                          softmax_scale(q.size(-1)));
  return sequence_by_sequence(q, k, v, layout.cu_seqlens, backend);
}

bool uses_varlen_attention(at::Device device, at::ScalarType dtype, int64_t head_dim,
                           const AttentionChoice& choice) {
  switch (choice.varlen) {
    case VarlenPolicy::kAlways:
      return true;
    case VarlenPolicy::kNever:
      return false;
    case VarlenPolicy::kAuto:
      break;
  }
  return device.is_cpu() || flash_runs(device, dtype, head_dim, choice.backend);
}

}  // namespace dpo
