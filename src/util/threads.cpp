#include "util/threads.h"

#include <sched.h>

#include <algorithm>
#include <thread>

#include "util/error.h"
#include "util/log.h"

namespace dpo {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int cores = 0;
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
  if (cores <= 0) cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores);
}

int resolve_thread_count(int64_t requested, const std::string& what) {
  if (requested < 0) throw_user_error("{} {}: must be >= 0 (0: every core)", what, requested);
  const int cores = available_cores();
  if (requested == 0) return cores;
  if (requested > cores) {
    log_warn("{} {}: more than the {} core{} available; using {}", what, requested, cores,
             cores == 1 ? "" : "s", cores);
    return cores;
  }
  return static_cast<int>(requested);
}

}  // namespace dpo
