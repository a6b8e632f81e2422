// CLI11 glue shared by every subcommand: parse, print --help, turn parse errors into UserError.
#pragma once
#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace dpo::cli {

// Parses args (args[0] = "dpo <command>"). Returns an exit code when the command must stop now
// (0 after --help), nullopt to go on. Bad options throw UserError with CLI11's message.
std::optional<int> parse_args(CLI::App& app, const std::vector<std::string>& args);

}  // namespace dpo::cli
