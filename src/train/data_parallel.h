// A training run's data-parallel side (DESIGN.md "Distributed"): which examples of each global
// micro-batch this rank trains on, and the sums over ranks that make a step of W ranks x B
// examples the step of one process over W x B examples: gradients, the step's loss and counts,
// the metrics (each weighted by its own denominator: pairs or tokens), the stop requests, the
// reference log-probs and the generator states of checkpoints. In one process (no group) every
// call is the identity and costs nothing. Used by train/ and by `dpo bench train` (app/bench.cpp),
// which times the trainer's gradient sum.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dist/process_group.h"
#include "train/objective.h"

namespace dpo {

// The rank of each example of a global micro-batch given its token count: longest first, each to
// the rank with the fewest tokens so far that has room (at most `per_device` examples; ties: the
// lower rank). The examples must fit: at most world x per_device of them.
std::vector<int> balance_by_tokens(const std::vector<int64_t>& tokens, int world,
                                   int64_t per_device);

class DataParallel {
 public:
  DataParallel() = default;  // one process
  explicit DataParallel(std::unique_ptr<dist::ProcessGroup> group);

  bool active() const { return group_ != nullptr; }
  int rank() const { return group_ ? group_->rank() : 0; }
  int world_size() const { return group_ ? group_->world_size() : 1; }
  bool is_main() const { return rank() == 0; }
  const char* backend() const { return group_ ? group_->backend() : "none"; }

  // This rank's examples of a global micro-batch of up to world_size x per_device positions, in
  // their order there; fewer or none at the end of an epoch. `tokens[i]`: the token count of
  // global_batch[i]. The ranks get about the same tokens (balance_by_tokens), so that none waits
  // long for another at the gradient sum; the summed gradient does not depend on who computes
  // which example. (accelerate gives rank r the r-th slice instead.)
  std::vector<int64_t> shard(const std::vector<int64_t>& global_batch, int64_t per_device,
                             const std::vector<int64_t>& tokens) const;
  // A contiguous [begin, end) of `count` items for this rank (the reference precompute's part).
  std::pair<int64_t, int64_t> share_of(int64_t count) const;

  // Sums over ranks, in place (undefined gradients count as zeros).
  void sum_gradients(const std::vector<at::Tensor>& parameters, const std::string& what) const;
  double sum(double value, const std::string& what) const;
  void sum_tensor(at::Tensor& tensor, const std::string& what) const;
  // The step of every rank as one: loss, counts and finiteness summed; `batch_of[i]` is the
  // global micro-batch (0..micro_batches-1) of local batch i; the metrics become one map per
  // global micro-batch, each metric the weighted mean over the ranks' shares.
  void merge_step(AccumulatedStep& step, int64_t& samples, const std::vector<int64_t>& batch_of,
                  int64_t micro_batches);
  // The largest of the ranks' stop signals (0: none): every rank stops after the same step.
  int agree_on_stop(int local_signal) const;
  // Every rank's bytes, rank by rank (rank 0's first).
  std::vector<std::string> gather_bytes(const std::string& bytes, const std::string& what) const;
  void barrier(const std::string& what) const;

 private:
  std::unique_ptr<dist::ProcessGroup> group_;
  std::vector<std::string> metric_names_;  // agreed with rank 0 at the first step
};

}  // namespace dpo
