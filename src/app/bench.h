// `dpo bench train`: the throughput of one full DPO + LoRA training step on random weights of a
// model shape, with HH-RLHF-like sequence lengths and random token ids (speed does not depend on
// the values). The step is the trainer's: reference forward without adapters under no-grad,
// policy forward, sigmoid loss, backward, AdamW on the LoRA weights. Data-parallel (`--nproc N`
// or under torchrun): each rank its share of every step's pairs, the gradients summed over the
// ranks as the trainer sums them (train/data_parallel.h), timed on their own.
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/batch.h"
#include "io/model_config.h"
#include "model/attention.h"

namespace dpo {

class DataParallel;  // train/data_parallel.h

// Shapes by name: tinyllama-1.1b (the peer's shape), small (a CPU-sized Llama), tiny (tests).
// UserError listing the names for anything else.
ModelConfig bench_model_shape(const std::string& name);
std::vector<std::string> bench_model_shape_names();

// (prompt, chosen, rejected) token lengths, in file order: {"pairs": [[p, c, r], ...]} as
// bench/hh_like_lengths.json. UserError naming the file and entry on bad content.
std::vector<std::array<int64_t, 3>> load_bench_lengths(const std::filesystem::path& path);

struct BenchOptions {
  std::string model_shape = "tiny";
  int64_t pairs_per_step = 8;
  int64_t steps = 8;                   // timed steps
  int64_t warmup = 3;                  // untimed steps before them
  std::filesystem::path lengths_file;  // bench/hh_like_lengths.json
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;  // base weights; LoRA weights and optimizer state stay fp32
  BatchLayout layout = BatchLayout::kPadded;
  // The step timed: dpo (sigmoid, reference pass with the adapters off), cpo (CPO sigmoid),
  // simpo (CPO's simpo loss, cpo_alpha 0, beta 2) or orpo: the reference-free objectives of dpo
  // cpo / dpo orpo, without a reference pass.
  std::string objective = "dpo";
  VarlenPolicy varlen = VarlenPolicy::kAuto;  // when packed and padded rows take varlen attention
  bool gradient_checkpointing = false;
  int64_t lora_r = 16;
  int64_t lora_alpha = 32;
  double beta = 0.1;
  double learning_rate = 1e-6;
  uint64_t seed = 0;
};

struct BenchResult {
  BenchOptions options;
  std::string device_name;           // "cpu (N threads)" or the GPU's name
  std::string attention;             // "dense causal/masked" or "varlen" (packed rows, no mask)
  int64_t parameters = 0;            // base model
  int64_t lora_parameters = 0;       // trainable
  std::vector<double> step_seconds;  // timed steps
  double sec_per_step_median = 0.0;
  double sec_per_step_mean = 0.0;
  double pairs_per_s = 0.0;
  double real_tokens_per_s = 0.0;    // 2*prompt + chosen + rejected per pair
  double padded_tokens_per_s = 0.0;  // every token position the model computed, padding included
  double pad_fraction = 0.0;         // of the computed token positions
  double shared_fraction = 0.0;  // prompt sharing: real tokens not computed (a prompt's 2nd copy)
  double peak_mem_gib = 0.0;     // CUDA: caching allocator peak; CPU: max resident set size
  double matmul_tflops = 0.0;    // dense matmul rate measured in the same run, same dtype
  double model_tflops = 0.0;     // model FLOP/s of what the layout computes (step_model_flops)
  double mfu = 0.0;              // model_tflops / matmul_tflops
  std::vector<double> losses;    // every step's loss (a sanity check: finite, ~ln 2 first)

  // Data-parallel runs: W ranks, each with pairs_per_step pairs of every step's W x pairs_per_step
  // (the rates above are of the whole step, every rank's pairs; matmul_tflops the ranks' sum,
  // measured at once; peak memory rank 0's).
  int world_size = 1;
  std::string backend;                    // c10d's: gloo or nccl
  double allreduce_seconds_median = 0.0;  // the step's gradient all-reduce
  double allreduce_share = 0.0;           // of the timed steps' time
  // of the timed steps' time, rank 0 waiting (at a barrier before the all-reduce) for the slowest
  // rank's backward: the ranks' pairs differ in length
  double wait_share = 0.0;
  // The same global batch in one process (rank 0 alone while the others wait: all of the CPU
  // threads the ranks share, or one GPU), measured in the same run, and the ratio of the rates.
  double single_process_real_tokens_per_s = 0.0;
  double scaling = 0.0;  // real_tokens_per_s / single_process_real_tokens_per_s
};

// `parallel`: null or one process, the whole step here; else this rank's share of it.
BenchResult run_bench_train(const BenchOptions& options, const DataParallel* parallel = nullptr);

// The scaling measurement of `dpo bench train --nproc N` (every rank calls it): rank 0 first
// times the global batch (W x pairs_per_step) alone with `single_process_threads` CPU threads
// while the other ranks wait, then every rank its share with `rank_threads`. Rank 0's result has
// the single-process rate and the scaling; the others' only their part.
BenchResult run_bench_train_scaling(const BenchOptions& options, const DataParallel& parallel,
                                    int single_process_threads, int rank_threads);

// One JSON object (one line) and a human-readable block.
std::string bench_result_json(const BenchResult& result);
std::string bench_result_text(const BenchResult& result);

// Useful FLOPs of one DPO step over these pairs: 3 forward passes' worth of matmuls (reference
// forward, policy forward, input-gradient backward through the frozen base weights) over the real
// tokens only, causal attention counted over each sequence's own tokens. LoRA and padding excluded.
// Without a reference pass (CPO, ORPO): 2 forward passes' worth. shared_prompt (the prompt-sharing
// layout): each prompt's tokens once, each answer's queries seeing the prompt and the answer.
double step_model_flops(const ModelConfig& config,
                        const std::vector<std::array<int64_t, 3>>& pair_lengths,
                        bool reference_pass = true, bool shared_prompt = false);

// "dpo", "cpo", "simpo", "orpo": the objectives `dpo bench train --objective` times.
std::vector<std::string> bench_objective_names();

}  // namespace dpo
