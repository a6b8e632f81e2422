// A data-parallel group of processes on PyTorch's c10d: a TCPStore rendezvous at
// MASTER_ADDR:MASTER_PORT, then ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA, where
// this build has it). The c10d headers stay inside process_group.cpp.
//
//   auto group = ProcessGroup::connect(read_dist_env(), {std::chrono::seconds(1800), device});
//   group->all_reduce_sum(gradients);   // every rank: the sum over ranks, in place
//
// Every call is collective (every rank makes it, in the same order). A rank that died or stopped
// answering turns into a UserError naming the call within the timeout, never a hang.
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/env.h"

namespace dpo::dist {

struct GroupOptions {
  std::chrono::milliseconds timeout = std::chrono::seconds(1800);  // transformers' ddp_timeout
  at::Device device = at::kCPU;  // CUDA: NCCL where built with it, else Gloo through the host
};

// Whether this build can form a group (it found Gloo's headers).
bool group_support_built();

class ProcessGroup {
 public:
  // Blocks until all env.world_size ranks have arrived (or the timeout: UserError).
  static std::unique_ptr<ProcessGroup> connect(const DistEnv& env, const GroupOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  const DistEnv& env() const { return env_; }
  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const char* backend() const;

  // The sum over ranks, in place; the tensors (any shapes, one dtype and device) travel as one
  // flat buffer in one collective. `what` names the call in errors.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors, const std::string& what);
  std::vector<double> sum_values(std::vector<double> values, const std::string& what);
  // Every rank's `values` (the same length everywhere), rank by rank.
  std::vector<std::vector<double>> all_gather(const std::vector<double>& values,
                                              const std::string& what);
  // Rank 0's bytes on every rank.
  std::string broadcast_from_main(const std::string& bytes, const std::string& what);
  // Waits for every rank to reach the same point.
  void barrier(const std::string& what);

 private:
  struct Impl;
  ProcessGroup(DistEnv env, std::unique_ptr<Impl> impl);
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dpo::dist
