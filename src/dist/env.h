// Where this process stands in a data-parallel run, read from torchrun's environment protocol:
// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. No WORLD_SIZE (or
// WORLD_SIZE=1) is a single process. Plain C++, no libtorch.
#pragma once
#include <functional>
#include <optional>
#include <string>

namespace dpo::dist {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool data_parallel() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }
};

// The variable's value, or nullopt when unset (tests pass their own lookup).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> process_env(const std::string& name);

// The process's place from the environment. UserError naming the variable and what it must be
// (an integer, RANK < WORLD_SIZE, a port 1-65535 ...).
DistEnv read_dist_env(const EnvLookup& lookup = process_env);

// "rank 1 of 2" (for log lines and errors).
std::string describe(const DistEnv& env);

}  // namespace dpo::dist
