// CLI11 glue shared by every subcommand: parse, print --help, turn parse errors into UserError.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dpo {
struct DataOptions;  // data/pipeline.h
}  // namespace dpo

namespace dpo::cli {

// Parses args (args[0] = "dpo <command>"). Returns an exit code when the command must stop now
// (0 after --help), nullopt to go on. Bad options throw UserError with CLI11's message.
std::optional<int> parse_args(CLI::App& app, const std::vector<std::string>& args);

// --model (required), --revision and --adapter of the commands that load a model folder and a
// PEFT LoRA adapter on top; `adapter_help` says what the adapter is to the command, `model_help`
// what the model is (default: a Hugging Face model folder). Both take Hub ids (accept_hub_id).
void add_model_options(CLI::App& app, std::string& model_dir, std::string& adapter_dir,
                       const std::string& adapter_help, bool adapter_required = false,
                       const std::string& model_help = "");

// Lets a folder option take a Hugging Face Hub id too: ORG/NAME that is no local path becomes its
// snapshot folder in the local cache (io/hub_cache.h), at `revision`'s value when given, else main;
// UserError naming the option when the cache lacks it. Returns `option`.
CLI::Option* accept_hub_id(CLI::Option* option, const CLI::Option* revision = nullptr);

// Dataset specs of a command line (data/reader.h), with Hub dataset ids (ORG/NAME, ORG/NAME:SPLIT)
// replaced by the data files of their cached snapshot (io/hub_cache.h); `flag` for messages.
std::vector<std::string> resolve_dataset_args(const std::vector<std::string>& specs,
                                              const std::string& flag);

// --threads of the commands that run libtorch on the CPU: 0 (the default) for every core, a
// negative count refused as the command line is parsed. set_threads (command.h) applies it.
void add_threads_option(CLI::App& app, int64_t& threads);

// How `dpo data` subcommands read a dataset's rows: --format, --hh-to-messages, --chat-template,
// --max-rows (into DataOptions, whose defaults they show).
void add_dataset_reading_options(CLI::App& app, DataOptions& options);

// Checks of numeric options. NaN and infinity never pass; CLI11 reports
// "OPTION: must be a number RANGE (got TEXT)", naming the range as written here (never a bound
// like 1.79e308).
CLI::Validator at_least(double min);                     // >= min
CLI::Validator greater_than(double min);                 // > min
CLI::Validator in_closed(double low, double high);       // [low, high]
CLI::Validator in_half_open(double low, double high);    // [low, high)
CLI::Validator in_open_closed(double low, double high);  // (low, high]
CLI::Validator finite_number();

}  // namespace dpo::cli
