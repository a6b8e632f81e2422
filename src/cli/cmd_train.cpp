// `dpo train CONFIG.yaml [key=value ...]` (preference training, DPO family) and
// `dpo sft CONFIG.yaml [key=value ...]` (supervised fine-tuning): the same run machinery.
#include <csignal>
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "train/config.h"
#include "train/trainer.h"

namespace dpo::cli {
namespace {

int run_train_command(std::vector<std::string>& args, TrainMode mode) {
  const bool sft = mode == TrainMode::kSft;
  CLI::App app{sft ? "Supervised fine-tuning (TRL SFTTrainer semantics) of a Hugging Face model "
                     "folder, with LoRA or full fine-tuning, from a YAML recipe."
                   : "Preference training (DPO and TRL's loss family) of a LoRA adapter on a "
                     "Hugging Face model folder, from a YAML recipe."};
  app.footer(std::string("Keys use TRL's names (see the configuration reference in README.md). "
                         "key=value arguments override the file, e.g. ") +
             (sft ? "learning_rate=2e-5 use_peft=false completion_only_loss=false "
                  : "beta=0.2 loss_type=[sigmoid,sft] ") +
             "resume_from_checkpoint=latest. Paths in the file are relative to it. Ctrl-C "
             "finishes the step, writes a checkpoint and stops.");
  std::string config_path;
  std::vector<std::string> overrides;
  bool no_progress = false;
  app.add_option("CONFIG", config_path,
                 sft ? "YAML recipe (examples/tiny-cpu-sft.yaml)"
                     : "YAML recipe (examples/tiny-cpu.yaml, examples/tinyllama-hh.yaml)")
      ->required();
  app.add_option("overrides", overrides, "key=value settings applied after the file");
  app.add_flag("--no-progress", no_progress, "plain log lines only, no progress bar");
  if (auto code = parse_args(app, args)) return *code;

  TrainConfig config = load_train_config(config_path, overrides, mode);
  RunOptions options;
  options.handle_signals = true;
  options.show_progress = !no_progress;
  TrainResult result = run_training(config, mode, options);
  if (result.interrupted) return 128 + result.stop_signal;  // the shell's convention: 130, 143
  if (result.stopped_nonfinite) return 1;
  return 0;
}

int run_train(std::vector<std::string>& args) {
  return run_train_command(args, TrainMode::kPreference);
}
int run_sft(std::vector<std::string>& args) {
  return run_train_command(args, TrainMode::kSft);
}

}  // namespace

DPO_COMMAND("train", "preference training (DPO family) from a YAML recipe", run_train);
DPO_COMMAND("sft", "supervised fine-tuning from a YAML recipe", run_sft);

}  // namespace dpo::cli
