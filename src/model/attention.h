// Attention: which keys each query may see (built from ModelInput) and the attention backends.
// Shape legend: N rows, T queries, S keys, H heads, Hkv kv heads, D head dim.
#pragma once
#include <ATen/ATen.h>

#include "io/model_input.h"

namespace dpo {

// Plain: matmul, mask, fp32 softmax, matmul (the reference, works on libtorch 1.13).
// Sdpa: at::scaled_dot_product_attention (libtorch >= 2 only; flash / memory-efficient kernels).
enum class AttentionBackend { kPlain, kSdpa };

// kSdpa where libtorch has it, else kPlain.
AttentionBackend default_attention_backend();

// When packed and right-padded rows take variable-length attention (model/varlen_attention.h)
// instead of the masked dense path:
//   kAuto (default): on CUDA where the flash varlen kernel runs (bf16/fp16, libtorch >= 2.2, a
//                    head dim it supports, the sdpa backend; probed once per device, dtype and
//                    head dim), and on the CPU, where sequence by sequence is 3-6x faster than
//                    the mask (dpo bench train, bench/RESULTS.md); CUDA without the kernel keeps
//                    the mask;
//   kAlways: always (sequence by sequence without the kernel: the reference for tests);
//   kNever: never (the masked path everywhere).
enum class VarlenPolicy { kAuto, kAlways, kNever };

// How one model computes attention, owned by the model (LlamaModel::set_attention): nothing
// process-wide steers it. Choosing kSdpa on libtorch 1.13 is an InternalError there.
struct AttentionChoice {
  AttentionBackend backend = default_attention_backend();
  VarlenPolicy varlen = VarlenPolicy::kAuto;
};

// "Query i may attend key j" for a full forward over T tokens: (N, 1, T, T) bool, or undefined
// for plain causal attention. With branch_ids (prompt sharing) a query sees its segment's
// prefix and its own branch. Causality is always included; every query may at least see itself,
// so fully padded query rows stay finite instead of NaN.
at::Tensor build_allowed_mask(const ModelInput& input, int64_t T, at::Device device);

// `allowed` (N, 1, T, S) bool, or undefined for causal attention with the T queries the last T
// of the S keys, narrowed to a sliding window: a query at position p also needs the key's
// position above p - window (itself included, as transformers' sliding_window_overlay).
// query_positions (N, T), key_positions (N, S) int64 -> (N, 1, T, S) bool.
at::Tensor sliding_window_mask(const at::Tensor& allowed, const at::Tensor& query_positions,
                               const at::Tensor& key_positions, int64_t window);

// Position ids of the input: given, or restarting at 0 in each segment (packed layout), or
// 0..T-1 per row. (N, T) int64.
at::Tensor resolve_position_ids(const ModelInput& input);

// q: (N, H, T, D), k/v: (N, Hkv, S, D), allowed: (N, 1, T, S) bool or undefined (causal, the T
// queries being the last T of the S positions) -> (N, H, T, D). softcap > 0: the scaled scores
// soft-capped to softcap * tanh(scores / softcap) before the mask (gemma2), which only the plain
// backend computes (scaled_dot_product_attention has no soft-capping).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const at::Tensor& allowed, AttentionBackend backend, double softcap = 0);

}  // namespace dpo
