// Errors users can trigger (exit 1) versus internal failures (exit 2).
// Every UserError message names the file, line or key and what was expected.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace dpo {

// Bad input, bad config, missing file: the user can fix it. `dpo` exits with 1.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message) : std::runtime_error(message) {}
};

// A broken invariant inside dpo.cpp. `dpo` exits with 2.
class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& message) : std::runtime_error(message) {}
};

// fmt-style helpers: throw user_error("{}: line {}: ...", path, line);
template <typename... Args>
[[noreturn]] void throw_user_error(fmt::format_string<Args...> format, Args&&... args) {
  throw UserError(fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void throw_internal_error(fmt::format_string<Args...> format, Args&&... args) {
  throw InternalError(fmt::format(format, std::forward<Args>(args)...));
}

// Checks an internal invariant; the message says what broke.
#define DPO_CHECK(cond, ...)                               \
  do {                                                     \
    if (!(cond)) ::dpo::throw_internal_error(__VA_ARGS__); \
  } while (0)

}  // namespace dpo
