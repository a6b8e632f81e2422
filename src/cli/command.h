// The `dpo` subcommands. Each cmd_*.cpp registers one with DPO_COMMAND; main.cpp dispatches.
// A command returns the exit code: 0 success; UserError -> 1; anything else -> 2 (main.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dpo::cli {

struct Command {
  std::string name;     // "train", "data inspect" (two words for nested commands)
  std::string summary;  // one line for `dpo --help`
  // args: everything after the command name (argv[0] is "dpo <name>").
  std::function<int(std::vector<std::string>& args)> run;
};

bool register_command(Command command);
const std::vector<Command>& commands();

// `dpo --version` (version.cpp).
void print_version();

// Sets libtorch's intra-op thread count from --threads: 0 (or above the core count) means every
// core; UserError for a negative count (util/threads.h).
void set_threads(int64_t threads);

}  // namespace dpo::cli

#define DPO_CONCAT_INNER(a, b) a##b
#define DPO_CONCAT(a, b) DPO_CONCAT_INNER(a, b)
#define DPO_COMMAND(name, summary, fn)                              \
  static const bool DPO_CONCAT(dpo_command_registered_, __LINE__) = \
      ::dpo::cli::register_command({name, summary, fn})
