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

// Each query sequence on its own through the dense backend (causal, its queries the last of its
// keys; no mask): the reference path. keys/values: (Lk, Hkv, D), already gathered.
at::Tensor sequence_by_sequence(const at::Tensor& q, const at::Tensor& keys,
                                const at::Tensor& values, const at::Tensor& cu_seqlens_q,
                                const at::Tensor& cu_seqlens_k, AttentionBackend backend) {
  at::Tensor q_bounds = cu_seqlens_q.to(at::kCPU, at::kLong);
  at::Tensor k_bounds = cu_seqlens_k.to(at::kCPU, at::kLong);
  const int64_t* bq = q_bounds.data_ptr<int64_t>();
  const int64_t* bk = k_bounds.data_ptr<int64_t>();
  // rows [from, to) of x: (l, heads, D) -> (1, heads, l, D)
  auto heads_first = [](const at::Tensor& x, int64_t from, int64_t to) {
    return x.narrow(0, from, to - from).transpose(0, 1).unsqueeze(0);
  };
  std::vector<at::Tensor> outputs;
  for (int64_t s = 0; s + 1 < q_bounds.numel(); ++s) {
    at::Tensor y = attention(heads_first(q, bq[s], bq[s + 1]), heads_first(keys, bk[s], bk[s + 1]),
                             heads_first(values, bk[s], bk[s + 1]), at::Tensor(), backend);
    outputs.push_back(y.squeeze(0).transpose(0, 1));  // (l, H, D)
  }
  return at::cat(outputs, 0);  // (L, H, D)
}

at::Tensor int_tensor(const std::vector<int32_t>& values, at::Device device) {
  return at::tensor(at::ArrayRef<int32_t>(values), at::kInt).to(device);
}

// Runs the flash varlen kernel once on a small GQA case, forward and backward, against the
// reference path. `shared_prefix`: the second sequence's keys are the first one's first two
// tokens and its own (the prompt-sharing case: fewer queries than keys). False (with a warning
// when the kernel ran but disagreed) where it cannot be used.
bool probe_flash(at::Device device, at::ScalarType dtype, int64_t head_dim, bool shared_prefix) {
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
    at::Tensor cu_q = int_tensor({0, 4, 5, 7}, device), cu_k = cu_q;
    int64_t max_k = 4;
    if (shared_prefix) {  // sequences [0, 4) and [4, 7), the second seeing tokens 0, 1 first
      cu_q = int_tensor({0, 4, 7}, device);
      cu_k = int_tensor({0, 4, 9}, device);
      at::Tensor index =
          at::tensor(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 4, 5, 6}, at::kLong).to(device);
      k = k.index_select(0, index);
      v = v.index_select(0, index);
      max_k = 5;
    }
    at::Tensor out =
        compat::flash_varlen_attention(q, k, v, cu_q, cu_k, 4, max_k, softmax_scale(head_dim));
    out.sum().backward();
    at::Tensor q_reference = q.detach().clone().requires_grad_(true);
    at::Tensor expected =
        sequence_by_sequence(q_reference, k, v, cu_q, cu_k, AttentionBackend::kSdpa);
    expected.sum().backward();
    auto max_diff = [](const at::Tensor& a, const at::Tensor& b) {
      return (a.detach().to(at::kFloat) - b.detach().to(at::kFloat)).abs().max().item<double>();
    };
    const double diff = std::max(max_diff(out, expected),
                                 q.grad().defined() ? max_diff(q.grad(), q_reference.grad()) : 1.0);
    const bool agrees = diff < 5e-2;  // forward and query gradient, in bf16/fp16
    if (!agrees)
      log_warn(
          "flash varlen attention{} disagrees with the reference on {} (max abs diff {:.3g}); "
          "those rows use masked attention",
          shared_prefix ? " with a shared prefix" : "", device.str(), diff);
    return agrees;
  } catch (const std::exception& e) {
    log_warn("flash varlen attention{} unavailable on {} ({}); those rows use masked attention",
             shared_prefix ? " with a shared prefix" : "", device.str(), e.what());
    return false;
  }
}

// Whether the flash varlen kernel runs here: a property of the hardware and libtorch, probed
// once per device, dtype and head dim (the answer is cached, it steers nothing).
bool flash_runs(at::Device device, at::ScalarType dtype, int64_t head_dim, AttentionBackend backend,
                bool shared_prefix) {
  if (!compat::kHasFlashVarlen || !device.is_cuda()) return false;
  if (dtype != at::kBFloat16 && dtype != at::kHalf) return false;
  if (head_dim % 8 != 0 || head_dim > 256) return false;
  if (backend != AttentionBackend::kSdpa) return false;
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int64_t, bool>, bool> probed;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_tuple(static_cast<int>(device.index()), static_cast<int>(dtype), head_dim,
                             shared_prefix);
  auto found = probed.find(key);
  if (found == probed.end())
    found = probed.emplace(key, probe_flash(device, dtype, head_dim, shared_prefix)).first;
  return found->second;
}

// Packed rows: a sequence starts at every row start and at every change of segment id.
VarlenLayout segment_layout(const at::Tensor& segment_ids, at::Device device) {
  at::Tensor seg = segment_ids.to(at::kCPU, at::kLong).contiguous();  // (N, T)
  const int64_t N = seg.size(0), T = seg.size(1);
  at::Tensor starts = at::ones({N, T}, at::kBool);  // a sequence starts at every row start...
  if (T > 1) starts.narrow(1, 1, T - 1).copy_(seg.narrow(1, 1, T - 1) != seg.narrow(1, 0, T - 1));
  at::Tensor first = starts.reshape({N * T}).nonzero().squeeze(1);    // (B) ...and at every change
  at::Tensor cu = at::cat({first, at::full({1}, N * T, at::kLong)});  // (B + 1)
  VarlenLayout layout;
  layout.max_seqlen_q = N * T == 0
                            ? 0
                            : (cu.narrow(0, 1, cu.numel() - 1) - cu.narrow(0, 0, cu.numel() - 1))
                                  .max()
                                  .item<int64_t>();
  layout.max_seqlen_k = layout.max_seqlen_q;
  layout.cu_seqlens_q = cu.to(at::kInt).to(device);
  layout.cu_seqlens_k = layout.cu_seqlens_q;
  return layout;
}

// Prompt sharing: runs of equal (segment, branch) in each row; see build_varlen_layout.
VarlenLayout shared_prefix_layout(const at::Tensor& segment_ids, const at::Tensor& branch_ids,
                                  at::Device device) {
  at::Tensor seg = segment_ids.to(at::kCPU, at::kLong).contiguous();    // (N, T)
  at::Tensor branch = branch_ids.to(at::kCPU, at::kLong).contiguous();  // (N, T)
  const int64_t N = seg.size(0), T = seg.size(1);
  const int64_t* segment_of = seg.data_ptr<int64_t>();
  const int64_t* branch_of = branch.data_ptr<int64_t>();
  std::vector<int32_t> cu_q{0}, cu_k{0};
  std::vector<int64_t> key_index;
  VarlenLayout layout;
  auto add_sequence = [&](int64_t prefix_from, int64_t prefix_to, int64_t from, int64_t to) {
    for (int64_t i = prefix_from; i < prefix_to; ++i) key_index.push_back(i);
    for (int64_t i = from; i < to; ++i) key_index.push_back(i);
    cu_q.push_back(static_cast<int32_t>(to));
    cu_k.push_back(static_cast<int32_t>(key_index.size()));
    layout.max_seqlen_q = std::max(layout.max_seqlen_q, to - from);
    layout.max_seqlen_k = std::max(layout.max_seqlen_k, prefix_to - prefix_from + to - from);
  };
  for (int64_t row = 0; row < N; ++row) {
    int64_t prefix_from = 0, prefix_to = 0;  // the current segment's prefix (flat positions)
    bool follows_prefix = false;             // the next run starts right after the prefix
    for (int64_t t = 0; t < T;) {
      const int64_t at_t = row * T + t;
      int64_t end = t;  // the run of equal (segment, branch) starting at t
      while (end < T && segment_of[row * T + end] == segment_of[at_t] &&
             branch_of[row * T + end] == branch_of[at_t])
        ++end;
      const bool new_segment = t == 0 || segment_of[at_t - 1] != segment_of[at_t];
      if (new_segment) {
        prefix_from = prefix_to = at_t;
        follows_prefix = false;
      }
      if (new_segment && branch_of[at_t] == 0 && segment_of[at_t] >= 0) {
        prefix_to = row * T + end;  // a prefix: computed with the branch after it
        if (end == T || segment_of[row * T + end] != segment_of[at_t])
          add_sequence(at_t, at_t, at_t, prefix_to);  // a prefix without branches
        else
          follows_prefix = true;
      } else if (follows_prefix) {
        add_sequence(prefix_from, prefix_from, prefix_from, row * T + end);  // prefix + branch
        follows_prefix = false;
      } else {
        add_sequence(prefix_from, prefix_to, at_t, row * T + end);  // prefix's keys, then its own
      }
      t = end;
    }
  }
  layout.cu_seqlens_q = int_tensor(cu_q, device);
  layout.cu_seqlens_k = int_tensor(cu_k, device);
  layout.key_index = at::tensor(at::ArrayRef<int64_t>(key_index), at::kLong).to(device);
  return layout;
}

}  // namespace

VarlenLayout build_varlen_layout(const at::Tensor& segment_ids, const at::Tensor& branch_ids,
                                 at::Device device) {
  return branch_ids.defined() ? shared_prefix_layout(segment_ids, branch_ids, device)
                              : segment_layout(segment_ids, device);
}

at::Tensor varlen_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const VarlenLayout& layout, AttentionBackend backend) {
  at::Tensor keys = layout.gathers_keys() ? k.index_select(0, layout.key_index) : k;    // (Lk, ..)
  at::Tensor values = layout.gathers_keys() ? v.index_select(0, layout.key_index) : v;  // (Lk, ..)
  if (flash_runs(q.device(), q.scalar_type(), q.size(-1), backend, layout.gathers_keys()))
    return compat::flash_varlen_attention(q, keys, values, layout.cu_seqlens_q, layout.cu_seqlens_k,
                                          layout.max_seqlen_q, layout.max_seqlen_k,
                                          softmax_scale(q.size(-1)));
  return sequence_by_sequence(q, keys, values, layout.cu_seqlens_q, layout.cu_seqlens_k, backend);
}

bool uses_varlen_attention(at::Device device, at::ScalarType dtype, int64_t head_dim,
                           const AttentionChoice& choice, bool shared_prefix) {
  switch (choice.varlen) {
    case VarlenPolicy::kAlways:
      return true;
    case VarlenPolicy::kNever:
      return false;
    case VarlenPolicy::kAuto:
      break;
  }
  return device.is_cpu() || flash_runs(device, dtype, head_dim, choice.backend, shared_prefix);
}

}  // namespace dpo
