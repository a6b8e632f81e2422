// `dpo`: dispatch to a registered subcommand; map errors to exit codes (1 user, 2 internal).
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/command.h"
#include "util/error.h"
#include "util/memory.h"
#include "util/strings.h"
#include "util/threads.h"

namespace dpo::cli {

std::vector<Command>& registry() {
  static std::vector<Command> all;
  return all;
}
bool register_command(Command command) {
  registry().push_back(std::move(command));
  return true;
}
const std::vector<Command>& commands() {
  return registry();
}

void set_threads(int64_t threads) {
  at::set_num_threads(resolve_thread_count(threads, "--threads"));
}

namespace {

void print_help() {
  std::printf(
      "dpo: preference fine-tuning (DPO family, SFT) of Llama-family models with LoRA\n\n"
      "usage: dpo <command> [options]   (dpo <command> --help for its options)\n\ncommands:\n");
  for (const auto& command : commands())
    std::printf("  %-14s %s\n", command.name.c_str(), command.summary.c_str());
  std::printf(
      "\n  --version      libtorch, CUDA and cuDNN versions, GPUs visible, attention paths\n");
}

// Finds the longest registered name matching the leading words of argv ("data inspect").
const Command* find_command(const std::vector<std::string>& words, size_t* used) {
  const Command* best = nullptr;
  for (const auto& command : commands()) {
    auto parts = split(command.name, ' ');
    if (parts.size() > words.size()) continue;
    bool match = true;
    for (size_t i = 0; i < parts.size(); ++i) match = match && parts[i] == words[i];
    if (match && (!best || parts.size() > *used)) {
      best = &command;
      *used = parts.size();
    }
  }
  return best;
}

int dispatch(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    print_help();
    return words.empty() ? 1 : 0;
  }
  if (words[0] == "--version" || words[0] == "version") {
    print_version();
    return 0;
  }
  size_t used = 0;
  const Command* command = find_command(words, &used);
  if (!command) {
    // A group of two-word commands ("data inspect", "bench train"): list them.
    std::vector<const Command*> group;
    for (const auto& c : commands())
      if (starts_with(c.name, words[0] + " ")) group.push_back(&c);
    if (!group.empty()) {
      const bool help = words.size() == 1 || words[1] == "--help" || words[1] == "-h";
      std::string names;
      for (const Command* c : group) names += (names.empty() ? "" : ", ") + c->name;
      if (!help)
        throw_user_error("dpo {}: unknown subcommand '{}'; expected one of: {}", words[0], words[1],
                         names);
      std::printf("usage: dpo %s <subcommand> [options]   (dpo %s <subcommand> --help)\n\n",
                  words[0].c_str(), words[0].c_str());
      for (const Command* c : group)
        std::printf("  %-16s %s\n", c->name.c_str(), c->summary.c_str());
      return words.size() == 1 ? 1 : 0;
    }
    std::vector<std::string> names;
    for (const auto& c : commands()) names.push_back(c.name);
    std::string hint = closest_match(words[0], names);
    throw_user_error("unknown command '{}'{}; run `dpo --help` for the list", words[0],
                     hint.empty() ? "" : " (did you mean '" + hint + "'?)");
  }
  std::vector<std::string> args;
  args.push_back("dpo " + command->name);
  args.insert(args.end(), words.begin() + used, words.end());
  return command->run(args);
}

}  // namespace
}  // namespace dpo::cli

// Before any shared library's initializer (ELF preinit_array): OpenBLAS's constructor would spin
// forever under a tight address-space limit (util/memory.h).
extern "C" void dpo_preinit_check_address_space(int, char**, char**) {
  dpo::limit_blas_threads_to_address_space();
}
__attribute__((section(".preinit_array"),
               used)) static void (*const dpo_preinit)(int, char**,
                                                       char**) = dpo_preinit_check_address_space;

int main(int argc, char** argv) {
  // Past a file size limit (ulimit -f), write() fails with EFBIG and the error names the file,
  // instead of SIGXFSZ killing the process mid-write.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return dpo::cli::dispatch(argc, argv);
  } catch (const dpo::UserError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    // The environment refused (a full disk, permissions): the user's to fix, named with its paths.
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    // An allocation that failed (libtorch's allocators, new) is the machine's limit, not a bug.
    const std::string out_of_memory = dpo::out_of_memory_message(e.what());
    if (!out_of_memory.empty()) {
      std::fprintf(stderr, "error: %s\n", out_of_memory.c_str());
      return 1;
    }
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 2;
  }
}
