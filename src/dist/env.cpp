#include "dist/env.h"

#include <fmt/format.h>

#include <cstdlib>

#include "util/error.h"
#include "util/strings.h"

namespace dpo::dist {
namespace {

// An integer variable in [min, max], `fallback` when unset.
int integer_variable(const EnvLookup& lookup, const std::string& name, int fallback, int min,
                     int max) {
  const std::optional<std::string> text = lookup(name);
  if (!text) return fallback;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || errno != 0 || value < min || value > max)
    throw_user_error(
        "environment variable {}='{}': expected an integer from {} to {} (torchrun's "
        "launch protocol)",
        name, *text, min, max);
  return static_cast<int>(value);
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (!value) return std::nullopt;
  return std::string(value);
}

DistEnv read_dist_env(const EnvLookup& lookup) {
  constexpr int kMaxRanks = 1 << 20;
  DistEnv env;
  env.world_size = integer_variable(lookup, "WORLD_SIZE", 1, 1, kMaxRanks);
  if (!env.data_parallel()) return env;
  env.rank = integer_variable(lookup, "RANK", -1, 0, env.world_size - 1);
  if (env.rank < 0)
    throw_user_error(
        "environment variable RANK is not set, but WORLD_SIZE={} is (torchrun sets both)",
        env.world_size);
  env.local_world_size =
      integer_variable(lookup, "LOCAL_WORLD_SIZE", env.world_size, 1, env.world_size);
  env.local_rank = integer_variable(lookup, "LOCAL_RANK", env.rank % env.local_world_size, 0,
                                    env.local_world_size - 1);
  env.master_addr = lookup("MASTER_ADDR").value_or(env.master_addr);
  if (trim(env.master_addr).empty())
    throw_user_error("environment variable MASTER_ADDR is empty: expected the host of rank 0");
  env.master_port = integer_variable(lookup, "MASTER_PORT", env.master_port, 1, 65535);
  return env;
}

std::string describe(const DistEnv& env) {
  return fmt::format("rank {} of {}", env.rank, env.world_size);
}

}  // namespace dpo::dist
