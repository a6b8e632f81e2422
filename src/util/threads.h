// CPU thread counts of the commands (--threads, the `threads` config key).
#pragma once
#include <cstdint>
#include <string>

namespace dpo {

// The cores this process may run on (its affinity mask: taskset, cgroup cpusets), at least 1.
int available_cores();

// The thread count for `requested`, given as `what` ("--threads", "threads"): 0 -> every available
// core; more than the cores -> the core count, with a warning (more threads than cores only slow
// libtorch down, and tens of thousands of them hang it); negative -> UserError.
int resolve_thread_count(int64_t requested, const std::string& what);

}  // namespace dpo
