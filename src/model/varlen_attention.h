// Variable-length attention for packed rows (and right-padded ones: a row's sequence, then its
// padding, and prompt-sharing ones): the rows' tokens read as one stream of sequences laid end to
// end, each attending causally to itself only (or to a shared prefix and itself). No (N, T, T)
// mask is built and no compute goes to pairs of tokens that may not see each other.
// Shape legend: N rows, T time, L = N*T tokens, Lk key rows, B sequences, H heads, Hkv kv heads,
// D head dim.
#pragma once
#include <ATen/ATen.h>

#include "model/attention.h"

namespace dpo {

// The token stream cut into query sequences, each attending causally to its key sequence, its
// queries being the key sequence's last ones. Packed rows: the key sequence of a query sequence is
// the sequence itself. Prompt sharing: a branch that does not directly follow its segment's shared
// prefix has the prefix's keys, then its own, as its key sequence (gathered by key_index), so it
// sees the prefix and itself and never the branches before it.
struct VarlenLayout {
  // (B + 1) int32 on the model's device: query sequence b spans tokens cu_seqlens_q[b] ..
  // cu_seqlens_q[b+1] of the flattened rows (the query sequences tile the rows in order; padding
  // at the end of a row is one more sequence, its outputs unused).
  at::Tensor cu_seqlens_q;
  // (B + 1) int32: key sequence b spans rows cu_seqlens_k[b] .. cu_seqlens_k[b+1] of the keys:
  // the tokens themselves (equal to cu_seqlens_q) or, with key_index, the gathered ones.
  at::Tensor cu_seqlens_k;
  at::Tensor key_index;  // (Lk) int64 on the device: the token behind each key row; undefined: all
  int64_t max_seqlen_q = 0;  // the longest query sequence, in tokens
  int64_t max_seqlen_k = 0;  // the longest key sequence
  bool defined() const { return cu_seqlens_q.defined(); }
  bool gathers_keys() const { return key_index.defined(); }
};

// From the segment ids (N, T) of packed rows: a sequence starts at each row start and wherever the
// segment id changes. With branch_ids (prompt sharing, io/model_input.h) each segment is its
// prefix (branch 0) and its branches: the first branch and the prefix form one sequence (it sees
// exactly the prefix and itself), every later branch is a query sequence of its own whose keys
// are the prefix's and its own.
VarlenLayout build_varlen_layout(const at::Tensor& segment_ids, const at::Tensor& branch_ids,
                                 at::Device device);

// q: (L, H, D), k/v: (L, Hkv, D) -> (L, H, D). Flash varlen kernel where the device has it (see
// uses_varlen_attention), else each query sequence through the dense `backend` in turn.
at::Tensor varlen_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const VarlenLayout& layout, AttentionBackend backend);

// Whether a model on `device` in `dtype` with `head_dim` runs packed rows through
// varlen_attention under `choice` (its VarlenPolicy and backend, model/attention.h);
// `shared_prefix`: rows in the prompt-sharing layout (key sequences gathered).
bool uses_varlen_attention(at::Device device, at::ScalarType dtype, int64_t head_dim,
                           const AttentionChoice& choice, bool shared_prefix = false);

}  // namespace dpo
