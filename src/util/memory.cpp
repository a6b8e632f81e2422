#include "util/memory.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "util/error.h"

namespace dpo {

std::string format_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes >= (uint64_t{1} << 30)) return fmt::format("{:.1f} GiB", b / (1 << 30));
  if (bytes >= (uint64_t{1} << 20)) return fmt::format("{:.1f} MiB", b / (1 << 20));
  if (bytes >= (uint64_t{1} << 10)) return fmt::format("{:.1f} KiB", b / (1 << 10));
  return fmt::format("{} bytes", bytes);
}

std::optional<uint64_t> address_space_left() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  uint64_t used = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    unsigned long pages = 0;
    if (std::fscanf(statm, "%lu", &pages) == 1)
      used = static_cast<uint64_t>(pages) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    std::fclose(statm);
  }
  const uint64_t cap = static_cast<uint64_t>(limit.rlim_cur);
  return cap > used ? cap - used : 0;
}

void check_memory_for(uint64_t needed_bytes, const std::string& what) {
  const std::optional<uint64_t> left = address_space_left();
  if (!left || needed_bytes <= *left) return;
  throw_user_error(
      "out of memory: {} needs about {}, but the address-space limit (ulimit -v) leaves only {}; "
      "raise the limit or use a machine with more memory",
      what, format_bytes(needed_bytes), format_bytes(*left));
}

std::string out_of_memory_message(const std::string& what) {
  // c10: "DefaultCPUAllocator: can't allocate memory: you tried to allocate 4096000 bytes. ..."
  const std::string marker = "you tried to allocate ";
  if (what.find("can't allocate memory") != std::string::npos) {
    const size_t at = what.find(marker);
    if (at != std::string::npos) {
      const unsigned long long bytes = std::strtoull(what.c_str() + at + marker.size(), nullptr, 10);
      return fmt::format(
          "out of memory: an allocation of {} ({} bytes) failed; free memory, raise the limit "
          "(ulimit -v) or use a smaller model, dtype or batch",
          format_bytes(bytes), bytes);
    }
    return "out of memory: an allocation failed; free memory, raise the limit (ulimit -v) or use a "
           "smaller model, dtype or batch";
  }
  // CUDA: "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; ...)"
  const size_t cuda = what.find("CUDA out of memory");
  if (cuda != std::string::npos) {
    std::string line = what.substr(cuda);
    line = line.substr(0, line.find('\n'));
    return "out of memory on the GPU: " + line +
           " (use a smaller batch, bf16, gradient_checkpointing or a larger GPU)";
  }
  if (what == "std::bad_alloc")
    return "out of memory: an allocation failed; free memory, raise the limit (ulimit -v) or use a "
           "smaller model, dtype or batch";
  return "";
}

}  // namespace dpo
