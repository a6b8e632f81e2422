// Where a run stands (RunProgress, run.h): started fresh from the plan, restored by the one resume
// step from a checkpoint, and saved into checkpoint-N/.
#include <fmt/format.h>

#include "train/run.h"
#include "train/run_dir.h"
#include "util/error.h"
#include "util/log.h"

namespace dpo {

RunProgress start_progress(const RunSetup& setup) {
  const TrainConfig& c = setup.config;
  const StepPlan& plan = setup.plan;
  RunProgress progress;
  std::vector<std::pair<std::string, at::Tensor>> params =
      setup.lora ? setup.lora->named_parameters() : setup.model->named_parameters();
  AdamWOptions options;
  options.lr = c.learning_rate;
  options.beta1 = c.adam_beta1;
  options.beta2 = c.adam_beta2;
  options.eps = c.adam_epsilon;
  progress.optimizer =
      std::make_unique<AdamW>(weight_decay_groups(params, c.weight_decay), options);
  progress.schedule = std::make_unique<LrSchedule>(
      parse_schedule_type(c.lr_scheduler_type), c.learning_rate, plan.warmup_steps, plan.max_steps);
  TrainerState& state = progress.state;
  state.max_steps = plan.max_steps;
  state.num_train_epochs = (plan.max_steps + plan.updates_per_epoch - 1) / plan.updates_per_epoch;
  state.logging_steps = plan.logging_steps;
  state.eval_steps = plan.eval_steps;
  state.save_steps = plan.save_steps;
  state.train_batch_size = c.per_device_train_batch_size;
  return progress;
}

void resume(RunProgress& progress, const RunSetup& setup) {
  const LoadedCheckpoint& checkpoint = *setup.resume_from;
  const std::string source = checkpoint.dir.string();
  const StepPlan& plan = setup.plan;
  const bool extending = checkpoint.state.max_steps != plan.max_steps;
  if (extending && checkpoint.state.global_step < plan.max_steps)
    log_warn(
        "{}: the checkpoint belongs to a run of {} steps, this config makes {}: the run goes on "
        "to step {} and the {} learning-rate schedule is rebuilt for {} steps (warmup {}), "
        "applied from step {} on, as transformers' Trainer does",
        source, checkpoint.state.max_steps, plan.max_steps, plan.max_steps,
        setup.config.lr_scheduler_type, plan.max_steps, plan.warmup_steps,
        checkpoint.state.global_step);
  progress.schedule->check_saved(checkpoint.scheduler_json, source + "/scheduler.json", extending);
  progress.optimizer->load_state_dict(checkpoint.optimizer_state,
                                      source + "/optimizer.safetensors");
  TrainerState& state = progress.state;
  state.global_step = checkpoint.state.global_step;
  state.epoch = checkpoint.state.epoch;
  state.num_input_tokens_seen = checkpoint.state.num_input_tokens_seen;
  state.total_flos = checkpoint.state.total_flos;
  state.log_history = checkpoint.state.log_history;
  progress.position = checkpoint.resume.position;
  progress.totals = checkpoint.resume.totals;
  const ResumeState& saved = checkpoint.resume;
  const int world = setup.parallel.world_size();
  if (saved.world_size != world)
    throw_user_error(
        "{}: the checkpoint was written by a run of {} process{} (WORLD_SIZE), this run has {}: "
        "resume with WORLD_SIZE={} (--nproc {}), so that every rank continues its own data "
        "and generators",
        source, saved.world_size, saved.world_size == 1 ? "" : "es", world, saved.world_size,
        saved.world_size);
  const int rank = setup.parallel.rank();
  (rank == 0 ? saved.generators : saved.rank_generators[rank - 1]).restore(setup.device);
  log_info("resuming from {} at step {} (epoch {:.3f})", source, state.global_step, state.epoch);
}

std::filesystem::path save_checkpoint(const RunSetup& setup, const RunProgress& progress) {
  CheckpointData data;
  data.weights = setup.trained_weights();
  data.optimizer = progress.optimizer.get();
  data.scheduler_json = progress.schedule->to_json(progress.state.global_step);
  data.resume.position = progress.position;
  data.resume.totals = progress.totals;
  data.resume.generators = Generators::capture(setup.device);
  data.resume.world_size = setup.parallel.world_size();
  const std::vector<std::string> generators =
      setup.parallel.gather_bytes(data.resume.generators.to_text(), "gathering generator states");
  if (!setup.parallel.is_main())  // rank 0 writes the checkpoint
    return checkpoint_path(setup.output_dir, progress.state.global_step);
  for (size_t r = 1; r < generators.size(); ++r)
    data.resume.rank_generators.push_back(
        Generators::from_text(generators[r], fmt::format("rank {}'s generators", r)));
  data.state = &progress.state;
  data.config_yaml = train_config_to_yaml(setup.config);
  std::filesystem::path dir = write_checkpoint(setup.output_dir, progress.state.global_step, data);
  if (setup.config.save_total_limit)
    rotate_checkpoints(setup.output_dir, *setup.config.save_total_limit, dir);
  return dir;
}

}  // namespace dpo
