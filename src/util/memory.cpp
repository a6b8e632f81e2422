#include "util/memory.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "util/error.h"
#include "util/threads.h"

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

namespace {

// Writes `text` to stderr with write(2): no stdio, no allocation.
void write_stderr(const char* text) {
  size_t n = 0;
  while (text[n]) ++n;
  while (n > 0) {
    const ssize_t w = ::write(2, text, n);
    if (w <= 0) return;
    text += w;
    n -= static_cast<size_t>(w);
  }
}

// VmSize from /proc/self/statm with open/read only; 0 when unknown.
uint64_t mapped_bytes_now() {
  const int fd = ::open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return 0;
  char buffer[64] = {};
  const ssize_t n = ::read(fd, buffer, sizeof(buffer) - 1);
  ::close(fd);
  uint64_t pages = 0;
  for (ssize_t i = 0; i < n && buffer[i] >= '0' && buffer[i] <= '9'; ++i)
    pages = pages * 10 + static_cast<uint64_t>(buffer[i] - '0');
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

void limit_blas_threads_to_address_space() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  const uint64_t cap = static_cast<uint64_t>(limit.rlim_cur), used = mapped_bytes_now();
  const uint64_t left = cap > used ? cap - used : 0;
  constexpr uint64_t kPerThread = uint64_t{160} << 20;  // OpenBLAS's buffer (~129 MiB) and slack
  constexpr uint64_t kReserve = uint64_t{160} << 20;    // the other libraries' initializers
  // OpenBLAS starts one thread per core this process may run on (its affinity mask, as here).
  long threads = available_cores();
  if (const char* given = std::getenv("OPENBLAS_NUM_THREADS")) threads = std::atol(given);
  if (threads < 1) threads = 1;
  if (left >= kReserve + static_cast<uint64_t>(threads) * kPerThread) return;
  const uint64_t fit = left > kReserve ? (left - kReserve) / kPerThread : 0;
  char number[32];
  if (fit >= 1) {
    std::snprintf(number, sizeof(number), "%llu", static_cast<unsigned long long>(fit));
    ::setenv("OPENBLAS_NUM_THREADS", number, 1);
    write_stderr("warning: the address-space limit (ulimit -v) leaves room for the buffers of ");
    write_stderr(number);
    write_stderr(" BLAS thread(s); OPENBLAS_NUM_THREADS set to that\n");
    return;
  }
  char needed[32];
  std::snprintf(number, sizeof(number), "%llu MiB", static_cast<unsigned long long>(left >> 20));
  std::snprintf(needed, sizeof(needed), "%llu MiB",
                static_cast<unsigned long long>((kReserve + kPerThread) >> 20));
  write_stderr("error: out of memory: the address-space limit (ulimit -v) leaves ");
  write_stderr(number);
  write_stderr(" once dpo's libraries are loaded, and libtorch's BLAS needs about ");
  write_stderr(needed);
  write_stderr(" to start; raise the limit\n");
  ::_exit(1);
}

std::string out_of_memory_message(const std::string& what) {
  // c10: "DefaultCPUAllocator: can't allocate memory: you tried to allocate 4096000 bytes. ..."
  const std::string marker = "you tried to allocate ";
  if (what.find("can't allocate memory") != std::string::npos) {
    const size_t at = what.find(marker);
    if (at != std::string::npos) {
      const unsigned long long bytes =
          std::strtoull(what.c_str() + at + marker.size(), nullptr, 10);
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
