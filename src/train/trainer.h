// The training run behind `dpo train` and `dpo sft`, usable as a library (the demo calls it).
//
//   TrainConfig config = default_train_config(TrainMode::kSft);
//   config.model_name_or_path = "model/";  config.dataset = {"corpus.jsonl"};  ...
//   TrainResult result = run_training(config, TrainMode::kSft);
//
// A run folder (config.yaml, metrics.jsonl, checkpoint-N/, final adapter or model, report.html)
// is left in config.output_dir. See DESIGN.md "Outputs".
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "dist/env.h"
#include "train/config.h"

namespace dpo {

struct RunOptions {
  // Install SIGINT/SIGTERM handlers (finish the step, checkpoint, stop). The CLI sets it.
  bool handle_signals = false;
  // Console progress bar / plain progress lines.
  bool show_progress = true;
  // Called after every optimizer step (its log, eval and save done) with the global step: a hook
  // for tests (e.g. a SIGKILL at step N to check exact resume).
  std::function<void(int64_t global_step)> after_step;
  // This process's place in a data-parallel run (torchrun's environment, dist/env.h); the
  // default is one process. With world_size > 1 every rank calls run_training with the same
  // config: rank 0 writes the run folder, the others train their shards and wait for it.
  dist::DistEnv dist_env;
};

struct TrainResult {
  std::filesystem::path output_dir;
  // Where the trained weights are: output_dir (adapter or, with use_peft false, a full HF model).
  std::filesystem::path final_dir;
  int64_t global_step = 0;
  int64_t max_steps = 0;
  double epoch = 0.0;
  bool interrupted = false;               // SIGINT/SIGTERM: stopped after a checkpoint
  int stop_signal = 0;                    // which of the two, when interrupted
  bool stopped_nonfinite = false;         // too many non-finite steps in a row
  std::filesystem::path last_checkpoint;  // "" when none was written
  double runtime_s = 0.0;
  double samples_per_second = 0.0;
  double tokens_per_second = 0.0;
  double padding_fraction = 0.0;  // of the token positions the training steps computed
  // prompt sharing: the share of the token positions of the unshared layout not computed
  double shared_fraction = 0.0;
  int64_t reference_forwards = 0;  // reference passes run (0 when the cache served them)
  std::map<std::string, double> final_metrics;  // last train log merged with the final eval_*
};

// Runs (or resumes) the training described by `config`. UserError on bad input.
TrainResult run_training(const TrainConfig& config, TrainMode mode, const RunOptions& options = {});

}  // namespace dpo
