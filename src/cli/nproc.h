// `--nproc N` of the commands that run data-parallel (dpo train / sft / cpo / orpo, dpo bench
// train): the option, its refusal under torchrun, and the local launch of N ranks, each the same
// command line less --nproc (dist/launch.h).
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "dist/env.h"

namespace dpo::cli {

void add_nproc_option(CLI::App& app, int& nproc);

// UserError when `env` already is a rank (WORLD_SIZE set, as by torchrun) and --nproc asks for
// more.
void refuse_nproc_under_torchrun(int nproc, const dist::DistEnv& env);

// Runs `nproc` ranks of `args` (args[0] the command, "dpo train") less --nproc; their exit code.
int launch_ranks(int nproc, const std::vector<std::string>& args);

}  // namespace dpo::cli
