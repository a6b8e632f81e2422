// Variable-length attention for packed rows (and right-padded ones: a row's sequence, then its
// padding): the rows' tokens read as one stream of sequences laid end to end, each attending
// causally to itself only. No (N, T, T) mask is built and no compute goes to pairs of tokens
// from different sequences.
// Shape legend: N rows, T time, L = N*T tokens, B sequences, H heads, Hkv kv heads, D head dim.
#pragma once
#include <ATen/ATen.h>

#include "model/attention.h"

namespace dpo {

struct VarlenLayout {
  // (B + 1) int32 on the model's device: sequence b spans tokens cu_seqlens[b] .. cu_seqlens[b+1]
  // of the flattened rows. Padding at the end of a row is one more sequence (outputs unused).
  at::Tensor cu_seqlens;
  int64_t max_seqlen = 0;  // the longest sequence, in tokens
  bool defined() const { return cu_seqlens.defined(); }
};

// From the packed layout's segment ids (N, T): a sequence starts at each row start and wherever
// the segment id changes.
VarlenLayout build_varlen_layout(const at::Tensor& segment_ids, at::Device device);

// q: (L, H, D), k/v: (L, Hkv, D) -> (L, H, D). Flash varlen kernel where the device has it (see
// uses_varlen_attention), else each sequence through the dense `backend` in turn.
at::Tensor varlen_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const VarlenLayout& layout, AttentionBackend backend);

// Whether a model on `device` in `dtype` with `head_dim` runs packed rows through
// varlen_attention under `choice` (its VarlenPolicy and backend, model/attention.h).
bool uses_varlen_attention(at::Device device, at::ScalarType dtype, int64_t head_dim,
                           const AttentionChoice& choice);

}  // namespace dpo
