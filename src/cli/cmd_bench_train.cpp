// `dpo bench train`: throughput of the DPO + LoRA training step on a synthetic model shape.
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "app/bench.h"
#include "cli/args.h"
#include "cli/bench_lengths.h"
#include "cli/command.h"
#include "cli/nproc.h"
#include "cli/placement.h"
#include "dist/env.h"
#include "dist/process_group.h"
#include "model/attention.h"
#include "train/data_parallel.h"
#include "util/error.h"
#include "util/log.h"

namespace dpo::cli {
namespace {

// One rank of a data-parallel bench: its GPU (LOCAL_RANK) or its share of the CPU threads, the
// group, then the scaling measurement.
BenchResult run_data_parallel(BenchOptions options, const dist::DistEnv& env) {
  if (options.device.is_cuda()) {
    if (env.local_rank >= at::detail::getCUDAHooks().getNumGPUs())
      throw_user_error("{}: LOCAL_RANK {} needs GPU {}, but {} GPU(s) are visible",
                       dist::describe(env), env.local_rank, env.local_rank,
                       at::detail::getCUDAHooks().getNumGPUs());
    options.device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  }
  const int threads = at::get_num_threads();  // --threads, resolved
  const int rank_threads = std::max(1, threads / std::max(1, env.local_world_size));
  if (!env.is_main()) set_log_level(std::max(log_level(), LogLevel::kWarn));
  dist::GroupOptions group;
  group.device = options.device;
  DataParallel parallel(dist::ProcessGroup::connect(env, group));
  log_info("bench: {} ranks (c10d {}), {} CPU thread(s) each", env.world_size, parallel.backend(),
           rank_threads);
  return run_bench_train_scaling(options, parallel, threads, rank_threads);
}

int run_bench_train_command(std::vector<std::string>& args) {
  CLI::App app{
      "Throughput of one full DPO step (reference forward without adapters, policy forward + "
      "backward, "
      "AdamW on LoRA r=16 alpha=32 over q,k,v,o,gate,up,down; sigmoid loss, beta 0.1) on random "
      "weights "
      "and random token ids with HH-RLHF-like lengths. Prints real tokens/s (2*prompt + chosen + "
      "rejected "
      "per pair), pairs/s, s/step, pad fraction, peak memory and MFU against a matmul rate "
      "measured in "
      "the same run.",
      args[0]};
  BenchOptions options;
  std::string layout = "shared", varlen = "auto";
  PlacementOptions placement;
  bool json = false;
  app.add_option("--model-shape", options.model_shape, "tinyllama-1.1b | small | tiny")
      ->check(CLI::IsMember(bench_model_shape_names()))
      ->capture_default_str();
  app.add_option("--pairs-per-step", options.pairs_per_step, "preference pairs per optimizer step")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--steps", options.steps, "timed steps")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_option("--warmup", options.warmup, "untimed steps first")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--lengths", options.lengths_file,
                 "(prompt, chosen, rejected) lengths, used in file order (default: the "
                 "repository's bench/hh_like_lengths.json, found from the binary's folder)");
  add_placement_options(app, placement);
  app.add_option("--layout", layout,
                 "shared (packed with each prompt computed once: prompt_sharing, the trainer's "
                 "default) | packed (padding_free, prompt_sharing: false) | padded (TRL's)")
      ->check(CLI::IsMember({"padded", "packed", "shared"}))
      ->capture_default_str();
  app.add_option("--varlen", varlen,
                 "variable-length attention, no mask: auto (the flash kernel where the GPU has "
                 "it; sequence by sequence on a CPU) | on (always) | off (padding or segment mask)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  app.add_option("--objective", options.objective,
                 "the step timed: dpo (sigmoid; a reference pass with the adapters off, as dpo "
                 "train) | cpo | simpo | orpo (no reference pass, as dpo cpo / dpo orpo)")
      ->check(CLI::IsMember(bench_objective_names()))
      ->capture_default_str();
  app.add_flag("--gradient-checkpointing", options.gradient_checkpointing,
               "recompute activations in backward");
  app.add_option("--seed", options.seed, "weights and token ids")->capture_default_str();
  app.add_flag("--json", json, "print one JSON line instead of the text block");
  int nproc = 1;
  add_nproc_option(app, nproc);
  app.footer(
      "Data-parallel (--nproc N, or under torchrun): --pairs-per-step pairs per rank (as "
      "per_device_train_batch_size), the ranks' gradients summed as dpo train sums them. Rank 0 "
      "first times the whole global batch alone (--threads threads, or one GPU) while the others "
      "wait, then every rank its share (each rank --threads / LOCAL_WORLD_SIZE threads, or its "
      "GPU LOCAL_RANK); it prints the scaling (the rates' ratio) and the all-reduce's share of "
      "the step.");
  if (auto code = parse_args(app, args)) return *code;
  const dist::DistEnv env = dist::read_dist_env();
  refuse_nproc_under_torchrun(nproc, env);
  if (nproc > 1) return launch_ranks(nproc, args);

  options.layout = layout == "shared"   ? BatchLayout::kPromptSharing
                   : layout == "packed" ? BatchLayout::kPacked
                                        : BatchLayout::kPadded;
  options.varlen = varlen == "on"    ? VarlenPolicy::kAlways
                   : varlen == "off" ? VarlenPolicy::kNever
                                     : VarlenPolicy::kAuto;
  if (options.lengths_file.empty()) options.lengths_file = default_bench_lengths_file();
  if (!std::filesystem::exists(options.lengths_file))
    throw_user_error(
        "--lengths: {} does not exist (the repository ships bench/hh_like_lengths.json)",
        options.lengths_file.string());
  const Placement resolved = resolve_placement(placement);
  options.device = resolved.device;
  options.dtype = resolved.dtype;

  BenchResult result;
  if (env.data_parallel()) {
    result = run_data_parallel(options, env);
    if (!env.is_main()) return 0;  // rank 0 reports
  } else {
    result = run_bench_train(options);
  }
  std::printf("%s\n", json ? bench_result_json(result).c_str() : bench_result_text(result).c_str());
  return 0;
}

DPO_COMMAND("bench train", "throughput of the DPO + LoRA step on a synthetic model shape",
            run_bench_train_command);

}  // namespace
}  // namespace dpo::cli
