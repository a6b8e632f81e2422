#include "util/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace dpo {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_mutex;
}  // namespace

void set_log_level(LogLevel level) {
  g_level = static_cast<int>(level);
}
LogLevel log_level() {
  return static_cast<LogLevel>(g_level.load());
}

void log_line(LogLevel level, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const char* prefix = level == LogLevel::kWarn    ? "warning: "
                       : level == LogLevel::kError ? "error: "
                                                   : "";
  std::fprintf(stderr, "%s%s\n", prefix, message.c_str());
  std::fflush(stderr);
}

}  // namespace dpo
