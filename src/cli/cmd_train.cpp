// `dpo train CONFIG.yaml [key=value ...]` (preference training, DPO family) and
// `dpo sft CONFIG.yaml [key=value ...]` (supervised fine-tuning), `dpo cpo` (CPO, SimPO) and
// `dpo orpo` (ORPO) and `dpo kto` (KTO): one command per TRL trainer, the same run machinery.
#include <csignal>
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/nproc.h"
#include "dist/env.h"
#include "train/config.h"
#include "train/trainer.h"
#include "util/error.h"

namespace dpo::cli {
namespace {

struct CommandText {
  const char* about;
  const char* example_overrides;
  const char* example_recipe;
};

CommandText command_text(TrainMode mode) {
  switch (mode) {
    case TrainMode::kSft:
      return {
          "Supervised fine-tuning (TRL SFTTrainer semantics) of a Hugging Face model folder, "
          "with LoRA or full fine-tuning, from a YAML recipe.",
          "learning_rate=2e-5 use_peft=false completion_only_loss=false ",
          "YAML recipe (examples/tiny-cpu-sft.yaml)"};
    case TrainMode::kCpo:
      return {
          "Contrastive Preference Optimization (TRL CPOTrainer semantics; SimPO with "
          "loss_type simpo, AlphaPO with alpha): preference training without a reference "
          "model, from the same YAML recipe keys and data as dpo train.",
          "loss_type=simpo cpo_alpha=0 simpo_gamma=0.5 ",
          "YAML recipe (examples/tiny-cpu-simpo.yaml)"};
    case TrainMode::kOrpo:
      return {
          "Odds Ratio Preference Optimization (TRL ORPOTrainer semantics): SFT and a "
          "preference term in one loss, without a reference model, from the same YAML recipe "
          "keys and data as dpo train.",
          "beta=0.1 learning_rate=8e-6 ", "YAML recipe (examples/tiny-cpu-orpo.yaml)"};
    case TrainMode::kKto:
      return {
          "Kahneman-Tversky Optimization (TRL KTOTrainer semantics): preference training on "
          "unpaired data, each completion marked desirable or not (prompt, completion, "
          "label rows; preference pairs are unpaired), against a reference model.",
          "desirable_weight=1.0 undesirable_weight=1.33 ",
          "YAML recipe (examples/tiny-cpu-kto.yaml)"};
    case TrainMode::kPreference:
      break;
  }
  return {
      "Preference training (DPO and TRL's loss family) of a LoRA adapter on a Hugging Face "
      "model folder, from a YAML recipe.",
      "beta=0.2 loss_type=[sigmoid,sft] ",
      "YAML recipe (examples/tiny-cpu.yaml, examples/tinyllama-hh.yaml)"};
}

int run_train_command(std::vector<std::string>& args, TrainMode mode) {
  const CommandText text = command_text(mode);
  CLI::App app{text.about};
  app.footer(std::string("Keys use TRL's names (see the configuration reference in README.md). "
                         "key=value arguments override the file, e.g. ") +
             text.example_overrides +
             "resume_from_checkpoint=latest. Paths in the file are relative to it. Ctrl-C "
             "finishes the step, writes a checkpoint and stops.");
  std::string config_path;
  std::vector<std::string> overrides;
  bool no_progress = false;
  int nproc = 1;
  app.add_option("CONFIG", config_path, text.example_recipe)->required();
  add_nproc_option(app, nproc);
  app.add_option("overrides", overrides, "key=value settings applied after the file");
  app.add_flag("--no-progress", no_progress, "plain log lines only, no progress bar");
  if (auto code = parse_args(app, args)) return *code;

  const dist::DistEnv env = dist::read_dist_env();
  refuse_nproc_under_torchrun(nproc, env);
  if (nproc > 1) {
    (void)load_train_config(config_path, overrides, mode);  // a bad config fails once, here
    return launch_ranks(nproc, args);
  }
  TrainConfig config = load_train_config(config_path, overrides, mode);
  RunOptions options;
  options.dist_env = env;
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
int run_cpo(std::vector<std::string>& args) {
  return run_train_command(args, TrainMode::kCpo);
}
int run_orpo(std::vector<std::string>& args) {
  return run_train_command(args, TrainMode::kOrpo);
}
int run_kto(std::vector<std::string>& args) {
  return run_train_command(args, TrainMode::kKto);
}

}  // namespace

DPO_COMMAND("train", "preference training (DPO family) from a YAML recipe", run_train);
DPO_COMMAND("sft", "supervised fine-tuning from a YAML recipe", run_sft);
DPO_COMMAND("cpo", "CPO / SimPO preference training, no reference model, from a YAML recipe",
            run_cpo);
DPO_COMMAND("orpo", "ORPO (SFT + odds-ratio preference), no reference model, from a YAML recipe",
            run_orpo);
DPO_COMMAND("kto", "KTO on unpaired (desirable / undesirable) data, from a YAML recipe", run_kto);

}  // namespace dpo::cli
