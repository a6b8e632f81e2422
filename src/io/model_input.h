// What the model consumes: token ids plus the layout of the sequences inside each row (data/
// builds it, model/ reads it: it lives below both).
// Shape legend: N rows, T time.
#pragma once
#include <ATen/ATen.h>

namespace dpo {

struct ModelInput {
  at::Tensor input_ids;     // (N, T) int64
  at::Tensor position_ids;  // (N, T) int64; undefined -> 0..T-1 per row
  // Exactly one of the following describes which keys a query may see (besides causality):
  at::Tensor attention_mask;  // (N, T) 1 = real token, 0 = right padding (padded layout)
  at::Tensor segment_ids;     // (N, T) int64: packed layout, attend within the same segment only;
                              //   padding at the end of a row has segment -1
  at::Tensor allowed;         // (N, T, T) bool: explicit "query i may attend key j"
  // All undefined: plain causal attention over the full rows.
  // With segment_ids, prompt sharing (data/batch.h): (N, T) int64, a segment is a shared prefix
  // (branch 0) followed by branches 1, 2, ... laid end to end; a token of branch b >= 1 attends
  // (causally) to the prefix and to its own branch only. Undefined: every segment is one branch.
  at::Tensor branch_ids;
};

}  // namespace dpo
