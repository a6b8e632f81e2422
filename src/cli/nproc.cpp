#include "cli/nproc.h"

#include "dist/launch.h"
#include "util/error.h"
#include "util/strings.h"

namespace dpo::cli {
namespace {

// The command line of one rank: `args` (args[0] "dpo train") without --nproc and its value.
std::vector<std::string> rank_command_line(const std::vector<std::string>& args) {
  std::vector<std::string> argv = split(args[0], ' ');
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (starts_with(args[i], "--nproc=")) continue;
    argv.push_back(args[i]);
  }
  return argv;
}

}  // namespace

void add_nproc_option(CLI::App& app, int& nproc) {
  app.add_option("--nproc", nproc,
                 "data-parallel: start N processes on this machine (as torchrun "
                 "--nproc-per-node N); under torchrun, leave it out")
      ->check(CLI::Range(1, 1024));
}

void refuse_nproc_under_torchrun(int nproc, const dist::DistEnv& env) {
  if (nproc > 1 && env.data_parallel())
    throw_user_error(
        "--nproc {}: this process already is {} (WORLD_SIZE is set, as by torchrun): leave out "
        "--nproc, or unset WORLD_SIZE",
        nproc, dist::describe(env));
}

int launch_ranks(int nproc, const std::vector<std::string>& args) {
  dist::LaunchOptions launch;
  launch.nproc = nproc;
  launch.argv = rank_command_line(args);
  return dist::launch_local(launch);
}

}  // namespace dpo::cli
