// `dpo bench train`: throughput of the DPO + LoRA training step on a synthetic model shape.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "model/varlen_attention.h"
#include "train/bench.h"
#include "util/error.h"

namespace dpo::cli {
namespace {

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
  std::string device = "cpu", dtype, layout = "padded", varlen = "auto";
  int threads = 0;
  bool json = false;
  options.lengths_file = "bench/hh_like_lengths.json";  // relative to the repository root
  app.add_option("--model-shape", options.model_shape, "tinyllama-1.1b | small | tiny")
      ->check(CLI::IsMember(bench_model_shape_names()))
      ->capture_default_str();
  app.add_option("--pairs-per-step", options.pairs_per_step, "preference pairs per optimizer step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--steps", options.steps, "timed steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", options.warmup, "untimed steps first")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--lengths", options.lengths_file,
                 "(prompt, chosen, rejected) lengths, used in file order")
      ->capture_default_str();
  app.add_option("--device", device, "cpu | cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--dtype", dtype, "base weights: bf16 | f32 (default: bf16 on cuda, f32 on cpu)")
      ->check(CLI::IsMember({"bf16", "f32"}));
  app.add_option("--layout", layout, "padded (TRL's) | packed (no padding)")
      ->check(CLI::IsMember({"padded", "packed"}))
      ->capture_default_str();
  app.add_option("--varlen", varlen,
                 "variable-length attention, no mask: auto (the flash kernel where the GPU has "
                 "it; sequence by sequence on a CPU) | on (always) | off (padding or segment mask)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  app.add_flag("--gradient-checkpointing", options.gradient_checkpointing,
               "recompute activations in backward");
  app.add_option("--threads", threads, "CPU threads (0: every core)")->capture_default_str();
  app.add_option("--seed", options.seed, "weights and token ids")->capture_default_str();
  app.add_flag("--json", json, "print one JSON line instead of the text block");
  if (auto code = parse_args(app, args)) return *code;

  set_threads(threads);
  options.device = device == "cuda" ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  if (dtype.empty()) dtype = device == "cuda" ? "bf16" : "f32";
  options.dtype = dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  options.layout = layout == "packed" ? BatchLayout::kPacked : BatchLayout::kPadded;
  set_varlen_policy(varlen == "on"    ? VarlenPolicy::kAlways
                    : varlen == "off" ? VarlenPolicy::kNever
                                      : VarlenPolicy::kAuto);
  if (!std::filesystem::exists(options.lengths_file))
    throw_user_error(
        "--lengths: {} does not exist (the repository ships bench/hh_like_lengths.json)",
        options.lengths_file.string());
  if (options.device.is_cuda() && !at::hasCUDA())
    throw_user_error(
        "--device cuda: this dpo was built without CUDA or no GPU is visible (see `dpo "
        "--version`)");

  BenchResult result = run_bench_train(options);
  std::printf("%s\n", json ? bench_result_json(result).c_str() : bench_result_text(result).c_str());
  return 0;
}

DPO_COMMAND("bench train", "throughput of the DPO + LoRA step on a synthetic model shape",
            run_bench_train_command);

}  // namespace
}  // namespace dpo::cli
