// The training loop, as a recipe: the setup steps (run_setup.cpp), a fresh or resumed progress
// (run_progress.cpp), then optimizer steps of gradient-accumulated micro-batches — forward and
// backward (Objective, objective.cpp), clip and update, log, evaluate, save — with the
// non-finite policy, the stop signals and the progress line as small collaborators
// (trainer_parts.h), and the final outputs. Arithmetic follows transformers' Trainer and TRL's
// DPOTrainer / SFTTrainer.
#include "train/trainer.h"

#include <fmt/format.h>

#include <optional>

#include <algorithm>
#include <cmath>
#include <csignal>

#include "data/sampler.h"
#include "report/html_report.h"
#include "report/metrics_log.h"
#include "train/flos.h"
#include "train/generations.h"
#include "train/resume_check.h"
#include "train/run.h"
#include "train/run_dir.h"
#include "train/trainer_parts.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"

namespace dpo {
namespace {

// LoRA dropout off while alive (evaluation, generation); back to the run's setting after.
class DropoutOff {
 public:
  explicit DropoutOff(RunSetup& setup)
      : lora_(setup.lora ? &*setup.lora : nullptr), restore_(!setup.config.disable_dropout) {
    if (lora_) lora_->set_dropout_active(false);
  }
  ~DropoutOff() {
    if (lora_) lora_->set_dropout_active(restore_);
  }
  DropoutOff(const DropoutOff&) = delete;
  DropoutOff& operator=(const DropoutOff&) = delete;

 private:
  LoraModel* lora_;
  bool restore_;
};

class Trainer {
 public:
  Trainer(RunSetup& setup, RunProgress& progress, std::unique_ptr<report::MetricsLog> metrics)
      : setup_(setup),
        progress_(progress),
        metrics_(std::move(metrics)),
        nonfinite_(setup.config.max_nonfinite_steps),
        flos_parameters_(non_embedding_parameters(
            *setup.model, setup.lora ? &*setup.lora : nullptr,
            setup.has_reference() && setup.config.adapter_name_or_path.has_value())) {}
  TrainResult train();

 private:
  std::vector<std::vector<int64_t>> next_group();
  StepOutcome optimizer_step(const std::vector<std::vector<int64_t>>& group);
  void log_train(const StepOutcome& step);
  void run_evaluation();
  void write_row(report::MetricsRow row, bool to_history);
  void save();
  void answer_prompts(const std::string& phase);
  void finish();
  bool final_outputs_written() const;
  TrainResult make_result(bool interrupted, int signal, bool stopped_nonfinite) const;
  void print_summary(const TrainResult& result) const;

  RunSetup& setup_;
  RunProgress& progress_;
  std::unique_ptr<report::MetricsLog> metrics_;
  NonfinitePolicy nonfinite_;
  int64_t flos_parameters_;  // the model's parameters outside the embeddings, for total_flos
  ProgressLine progress_line_;
  LogWindow window_;
  Throughput throughput_;
  std::vector<std::vector<int64_t>> epoch_batches_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  int64_t last_saved_step_ = -1;
  int64_t last_eval_step_ = -1;
  std::filesystem::path last_checkpoint_;
  std::map<std::string, double> last_train_metrics_, last_eval_metrics_;
};

TrainResult Trainer::train() {
  const StepPlan& plan = setup_.plan;
  TrainerState& state = progress_.state;
  if (setup_.resume_from && state.global_step >= plan.max_steps && final_outputs_written()) {
    // A finished run: nothing to train, evaluate, save or answer again. (A run killed between its
    // last checkpoint and its final outputs goes on to finish().)
    log_info(
        "{}: the run already finished at step {} of {}; nothing to do (raise max_steps or "
        "num_train_epochs to train further)",
        setup_.resume_from->dir.string(), state.global_step, plan.max_steps);
    TrainResult result = make_result(false, 0, false);
    result.final_metrics.clear();
    return result;
  }
  const StopSignals signals(setup_.options.handle_signals);
  if (!setup_.resume_from) answer_prompts("before");
  int stop_signal = 0;
  bool stopped_nonfinite = false;
  while (state.global_step < plan.max_steps) {
    StepOutcome step = optimizer_step(next_group());  // forward, backward, update
    ++state.global_step;
    state.epoch = static_cast<double>(progress_.position.epoch) +
                  static_cast<double>(progress_.position.batch_in_epoch) /
                      static_cast<double>(plan.batches_per_epoch);
    state.num_input_tokens_seen += step.tokens;
    state.total_flos += floating_point_ops(step.trl_input_positions, flos_parameters_);
    throughput_.add(step);
    const int64_t global_step = state.global_step;
    if (nonfinite_.stop_after(step, global_step, progress_.totals, window_, progress_line_)) {
      stopped_nonfinite = true;
      break;
    }
    const bool log_now = global_step % plan.logging_steps == 0 ||
                         (global_step == 1 && setup_.config.logging_first_step) ||
                         global_step == plan.max_steps;
    if (log_now) log_train(step);
    if (plan.eval_steps > 0 && global_step % plan.eval_steps == 0) run_evaluation();
    if (global_step % plan.save_steps == 0) save();
    if (setup_.options.show_progress)
      progress_line_.update(step_status(step, global_step, plan.max_steps, seconds_since(started_)),
                            log_now);
    if (setup_.options.after_step) setup_.options.after_step(global_step);
    if ((stop_signal = setup_.parallel.agree_on_stop(signals.requested()))) {
      if (last_saved_step_ != global_step) save();
      progress_line_.finish();
      log_warn(
          "stopped by {} after step {}; checkpoint {}. Resume with the same command plus "
          "resume_from_checkpoint=latest",
          stop_signal == SIGINT ? "SIGINT" : "SIGTERM", global_step, last_checkpoint_.string());
      break;
    }
  }
  progress_line_.finish();
  if (stopped_nonfinite)
    log_error(
        "stopped: {} steps in a row had a non-finite loss or gradient norm; the last good "
        "checkpoint is {}. Lower learning_rate, check the data, or raise "
        "max_nonfinite_steps",
        setup_.config.max_nonfinite_steps,
        last_checkpoint_.empty() ? "(none written)" : last_checkpoint_.string());
  const bool completed = !stop_signal && !stopped_nonfinite;
  if (completed) finish();
  TrainResult out = make_result(stop_signal != 0, stop_signal, stopped_nonfinite);
  if (completed) print_summary(out);
  return out;
}

// The next global micro-batches of the epochs (shuffled, or in dataset order with
// train_sampling_strategy sequential): gradient_accumulation_steps of them, fewer at the end of an
// epoch. One process: its micro-batches; data-parallel: each rank trains on its slice of each.
std::vector<std::vector<int64_t>> Trainer::next_group() {
  SamplerOptions sampler;  // global micro-batches: every rank's examples of a micro-batch
  sampler.batch_size = setup_.config.per_device_train_batch_size * setup_.parallel.world_size();
  sampler.seed = static_cast<uint64_t>(setup_.config.seed);
  sampler.shuffle = setup_.config.train_sampling_strategy == "random";
  DataPosition& position = progress_.position;
  if (epoch_batches_.empty())
    epoch_batches_ = epoch_batches(setup_.plan.num_examples, position.epoch, sampler);
  if (position.batch_in_epoch >= static_cast<int64_t>(epoch_batches_.size())) {
    ++position.epoch;
    position.batch_in_epoch = 0;
    epoch_batches_ = epoch_batches(setup_.plan.num_examples, position.epoch, sampler);
  }
  const int64_t begin = position.batch_in_epoch;
  const int64_t end = std::min<int64_t>(begin + setup_.config.gradient_accumulation_steps,
                                        static_cast<int64_t>(epoch_batches_.size()));
  position.batch_in_epoch = end;
  return {epoch_batches_.begin() + begin, epoch_batches_.begin() + end};
}

// One optimizer step: the micro-batches' gradients (Objective::accumulate), summed over the
// ranks of a data-parallel run, clipped, applied.
StepOutcome Trainer::optimizer_step(const std::vector<std::vector<int64_t>>& group) {
  AdamW& optimizer = *progress_.optimizer;
  DataParallel& parallel = setup_.parallel;
  optimizer.zero_grad();
  std::vector<MicroBatch> batches;
  StepShare share;
  share.micro_batches = static_cast<int64_t>(group.size());
  std::vector<int64_t> batch_of;  // the global micro-batch of each of this rank's batches
  StepOutcome out;
  for (size_t j = 0; j < group.size(); ++j) {
    const std::vector<int64_t> positions =
        parallel.active() ? parallel.shard(group[j], setup_.config.per_device_train_batch_size,
                                           setup_.data.train_tokens(group[j]))
                          : group[j];
    if (positions.empty()) continue;  // the end of an epoch: nothing left for this rank
    batches.push_back(setup_.data.train_batch(*setup_.batcher, positions));
    share.weights.push_back(static_cast<double>(positions.size()) /
                            static_cast<double>(group[j].size()));
    batch_of.push_back(static_cast<int64_t>(j));
    out.samples += static_cast<int64_t>(positions.size());
  }
  if (parallel.active())
    share.sum_over_ranks = [&parallel](double tokens) {
      return parallel.sum(tokens, "counting the step's tokens");
    };
  static_cast<AccumulatedStep&>(out) = setup_.objective->accumulate(batches, share);
  const std::vector<at::Tensor> parameters = setup_.trainable_parameters();
  parallel.sum_gradients(parameters, "summing the gradients");
  parallel.merge_step(out, out.samples, batch_of, share.micro_batches);
  out.grad_norm = clip_grad_norm(parameters, setup_.config.max_grad_norm);
  if (!std::isfinite(out.grad_norm)) out.finite = false;
  if (out.finite) {
    optimizer.set_lr(progress_.schedule->lr(progress_.state.global_step));
    optimizer.step();
  }
  optimizer.zero_grad();
  return out;
}

void Trainer::write_row(report::MetricsRow row, bool to_history) {
  if (metrics_) metrics_->write(row);
  if (!to_history) return;
  nlohmann::json entry = nlohmann::json::object();
  for (const auto& [name, value] : row.values)
    if (!report::is_timing_key(name) || name.rfind("eval_", 0) == 0 || name.rfind("train_", 0) == 0)
      entry[name] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
  entry["step"] = row.step;
  progress_.state.log_history.push_back(entry);
}

void Trainer::log_train(const StepOutcome& step) {
  const int64_t global_step = progress_.state.global_step;
  report::MetricsRow row;
  row.step = global_step;
  row.set("epoch", progress_.state.epoch);
  row.set("loss", window_.steps > 0 ? window_.loss_sum / window_.steps : NAN);
  row.set("grad_norm", step.grad_norm);
  // the rate this step used (transformers 5 reads it before the scheduler steps)
  row.set("learning_rate", progress_.schedule->lr(global_step - 1));
  std::map<std::string, double> means = window_.metrics.mean();
  means.erase("loss");
  for (const auto& [name, value] : means) row.set(name, value);
  // the non-padding tokens trained on so far (DPO: prompt + chosen and prompt + rejected), as TRL
  row.set("num_tokens", progress_.state.num_input_tokens_seen);
  const double window_seconds = seconds_since(window_.started);
  row.set("tokens_per_second", window_seconds > 0 ? window_.tokens / window_seconds : 0.0);
  row.set("elapsed_seconds", seconds_since(started_));
  write_row(row, /*to_history=*/true);
  last_train_metrics_.clear();
  for (const auto& [name, value] : row.values) last_train_metrics_[name] = value;

  std::string line =
      fmt::format("step {}/{} (mean of {} step{})", global_step, setup_.plan.max_steps,
                  window_.steps, window_.steps == 1 ? "" : "s");
  for (const auto& [name, value] : row.values)
    if (!report::is_timing_key(name)) line += fmt::format(" | {} {:.6g}", name, value);
  progress_line_.message(line);
  window_.reset();
}

// Data-parallel: rank 0 evaluates the whole eval set (the numbers of one process), the others wait.
void Trainer::run_evaluation() {
  const EvalExamples examples = setup_.data.eval();
  if (examples.size() == 0) return;
  last_eval_step_ = progress_.state.global_step;
  if (!setup_.parallel.is_main()) {
    setup_.parallel.barrier("waiting for rank 0's evaluation");
    return;
  }
  std::map<std::string, double> metrics;
  {
    const DropoutOff dropout_off(setup_);
    metrics = evaluate(*setup_.objective, *setup_.batcher, examples,
                       setup_.config.per_device_eval_batch_size);
  }
  report::MetricsRow row;
  row.step = progress_.state.global_step;
  row.set("epoch", progress_.state.epoch);
  for (const auto& [name, value] : metrics) row.set(name, value);
  row.set("eval_num_tokens", progress_.state.num_input_tokens_seen);  // TRL: the train count
  write_row(row, /*to_history=*/true);
  last_eval_metrics_ = metrics;
  std::string line = fmt::format("eval at step {}", row.step);
  for (const auto& [name, value] : metrics)
    if (!report::is_timing_key(name)) line += fmt::format(" | {} {:.6g}", name, value);
  progress_line_.message(line);
  setup_.parallel.barrier("waiting for rank 0's evaluation");
}

// Data-parallel: every rank's generator state goes to rank 0, which writes the checkpoint while
// the others wait, so that none runs ahead of a checkpoint that may not be complete.
void Trainer::save() {
  last_checkpoint_ = save_checkpoint(setup_, progress_);
  last_saved_step_ = progress_.state.global_step;
  if (setup_.parallel.is_main())
    progress_line_.message(fmt::format("saved {}", last_checkpoint_.string()));
  setup_.parallel.barrier("waiting for rank 0's checkpoint");
}

void Trainer::answer_prompts(const std::string& phase) {
  if (setup_.config.eval_prompts.empty() || !setup_.parallel.is_main()) return;
  PromptAnswerer answerer;
  answerer.model = &*setup_.model;
  answerer.tokenizer = &*setup_.tokenizer;
  answerer.chat_template = setup_.chat_template ? &*setup_.chat_template : nullptr;
  answerer.max_new_tokens = setup_.config.generation_max_new_tokens;
  const DropoutOff dropout_off(setup_);
  write_generations(answerer, setup_.config.eval_prompts, phase, progress_.state.global_step,
                    setup_.output_dir);
}

// The end of a completed run: the last eval and checkpoint, the "after" answers, the summary row,
// the final weights, trainer_state.json and report.html.
void Trainer::finish() {
  const int64_t global_step = progress_.state.global_step;
  if (last_eval_step_ != global_step) run_evaluation();
  if (last_saved_step_ != global_step) save();
  answer_prompts("after");
  if (!setup_.parallel.is_main()) {  // rank 0 writes the final outputs
    setup_.parallel.barrier("waiting for rank 0's final outputs");
    return;
  }

  const double runtime = seconds_since(started_);
  const RunTotals& totals = progress_.totals;
  report::MetricsRow summary;
  summary.step = global_step;
  summary.set("epoch", progress_.state.epoch);
  summary.set("train_runtime", runtime);
  summary.set("train_samples_per_second", throughput_.per_second(throughput_.samples, runtime));
  summary.set("train_steps_per_second", throughput_.per_second(throughput_.steps, runtime));
  summary.set("train_tokens_per_second", throughput_.per_second(throughput_.tokens, runtime));
  summary.set("total_flos", progress_.state.total_flos);
  summary.set("train_loss",
              totals.train_loss_steps > 0 ? totals.train_loss_sum / totals.train_loss_steps : NAN);
  summary.set("reference_forwards", static_cast<double>(setup_.objective->reference_passes()));
  write_row(summary, /*to_history=*/true);

  write_trained_weights(setup_.output_dir, setup_.trained_weights());
  write_file_atomic(setup_.output_dir / "trainer_state.json", progress_.state.to_json());
  metrics_.reset();  // flush and close before the report reads the files
  try {
    report::write_report(setup_.output_dir);
  } catch (const std::exception& e) {
    log_warn("report.html not written: {}", e.what());
  }
  setup_.parallel.barrier("waiting for rank 0's final outputs");
}

// The final trainer_state.json, written last by finish() after the final weights, is at the end.
bool Trainer::final_outputs_written() const {
  const fs::path state = setup_.output_dir / "trainer_state.json";
  std::error_code ec;
  return fs::exists(state, ec) &&
         TrainerState::from_file(state).global_step >= setup_.plan.max_steps;
}

TrainResult Trainer::make_result(bool interrupted, int signal, bool stopped_nonfinite) const {
  TrainResult result;
  result.output_dir = setup_.output_dir;
  result.max_steps = setup_.plan.max_steps;
  result.interrupted = interrupted;
  result.stop_signal = signal;
  result.stopped_nonfinite = stopped_nonfinite;
  result.global_step = progress_.state.global_step;
  result.epoch = progress_.state.epoch;
  result.last_checkpoint = last_checkpoint_;
  result.reference_forwards = setup_.objective->reference_passes();
  result.runtime_s = seconds_since(started_);
  result.samples_per_second = throughput_.per_second(throughput_.samples, result.runtime_s);
  result.tokens_per_second = throughput_.per_second(throughput_.tokens, result.runtime_s);
  if (!interrupted && !stopped_nonfinite) {
    result.final_dir = setup_.output_dir;
    result.final_metrics = last_train_metrics_;
    for (const auto& [name, value] : last_eval_metrics_) result.final_metrics[name] = value;
    result.padding_fraction = throughput_.padding_fraction();
    result.shared_fraction = throughput_.shared_fraction();
  }
  return result;
}

// Which batch layout the steps ran, for the summary line.
std::string layout_note(BatchLayout layout, const TrainResult& result) {
  switch (layout) {
    case BatchLayout::kPromptSharing:
      return fmt::format(
          ", packed with prompt sharing: each prompt computed once, {:.1f}% of the token "
          "positions saved",
          100.0 * result.shared_fraction);
    case BatchLayout::kPacked:
      return ", packed: padding_free";
    case BatchLayout::kPadded:
      break;
  }
  return result.padding_fraction > 0.2 ? "; padding_free: true (the default) reduces it" : "";
}

void Trainer::print_summary(const TrainResult& result) const {
  // SFT, CPO and ORPO have no reference model: no count of its passes.
  const std::string reference =
      setup_.has_reference()
          ? fmt::format(", {} reference forward passes", result.reference_forwards)
          : "";
  std::string text = fmt::format(
      "done: {} steps in {:.1f} s ({:.2f} samples/s, {:.0f} tokens/s, {:.1f}% of the computed "
      "token positions padding{}){}; outputs in {}",
      result.global_step, result.runtime_s, result.samples_per_second, result.tokens_per_second,
      100.0 * result.padding_fraction, layout_note(setup_.batcher->layout(), result), reference,
      result.output_dir.string());
  for (const auto& [name, value] : result.final_metrics)
    if (!report::is_timing_key(name)) text += fmt::format("\n  {:<28} {:.6g}", name, value);
  log_info("{}", text);
}

// The run folder made ready: locked, stale temporaries of a killed run removed, the checkpoint
// to resume from read, a fresh run's generations cleared, config.yaml written.
void open_run_dir(RunSetup& setup) {
  const TrainConfig& config = setup.config;
  for (const auto& name : clean_stale_temporaries(setup.output_dir))
    log_info("{}: cleaned up {} (left by an interrupted run)", setup.output_dir.string(), name);
  if (config.resume_from_checkpoint) {
    const fs::path checkpoint =
        resolve_resume_checkpoint(*config.resume_from_checkpoint, setup.output_dir);
    // a setting the checkpoint fixes that this config changes is named before anything loads
    check_resume_settings(config, checkpoint);
    setup.resume_from = read_checkpoint(checkpoint);
  }
  if (!setup.resume_from) {  // a fresh run starts its logs empty
    std::error_code ignored;
    fs::remove(setup.output_dir / "generations.jsonl", ignored);
  }
  write_file_atomic(setup.output_dir / "config.yaml", train_config_to_yaml(config));
}

std::unique_ptr<report::MetricsLog> open_metrics_log(const RunSetup& setup,
                                                     const RunProgress& progress) {
  const std::vector<std::string>& report_to = setup.config.report_to;
  if (std::find(report_to.begin(), report_to.end(), "none") != report_to.end()) return nullptr;
  report::MetricsLogOptions options;
  options.tensorboard =
      std::find(report_to.begin(), report_to.end(), "tensorboard") != report_to.end();
  if (setup.resume_from) options.resume_step = progress.state.global_step;
  return std::make_unique<report::MetricsLog>(setup.output_dir, options);
}

// Data-parallel: the group formed first (every rank), then rank 0 alone makes the run folder
// ready while the others wait; they read the checkpoint to resume from themselves.
std::unique_ptr<dist::ProcessGroup> join_data_parallel(const TrainConfig& config,
                                                       const RunOptions& options) {
  const dist::DistEnv& env = options.dist_env;
  if (!env.data_parallel()) return nullptr;
  dist::GroupOptions group;
  group.timeout = std::chrono::seconds(config.ddp_timeout);
  const bool cuda = config.device == "cuda" || (config.device == "auto" && at::hasCUDA());
  if (cuda) group.device = at::Device(at::kCUDA, env.local_rank);
  if (!env.is_main()) set_log_level(std::max(log_level(), LogLevel::kWarn));
  auto joined = dist::ProcessGroup::connect(env, group);
  log_info("data-parallel: {} ranks ({}), {} per node, c10d {}", env.world_size,
           dist::describe(env), env.local_world_size, joined->backend());
  return joined;
}

}  // namespace

TrainResult run_training(const TrainConfig& config, TrainMode mode, const RunOptions& options) {
  RunSetup setup;
  setup.config = config;
  setup.mode = mode;
  setup.options = options;
  setup.output_dir = config.output_dir;
  if (auto group = join_data_parallel(config, options))
    setup.parallel = DataParallel(std::move(group));
  std::optional<OutputDirLock> output_lock;  // rank 0's, held until training returns
  if (setup.parallel.is_main()) {
    ensure_directory(setup.output_dir);
    output_lock.emplace(setup.output_dir);
    open_run_dir(setup);
  }
  setup.parallel.barrier("waiting for rank 0 to open the run folder");
  if (!setup.parallel.is_main()) {
    setup.options.show_progress = false;
    if (config.resume_from_checkpoint)
      setup.resume_from = read_checkpoint(
          resolve_resume_checkpoint(*config.resume_from_checkpoint, setup.output_dir));
  }
  set_up_run(setup);
  RunProgress progress = start_progress(setup);
  if (setup.resume_from) resume(progress, setup);
  Trainer trainer(setup, progress,
                  setup.parallel.is_main() ? open_metrics_log(setup, progress) : nullptr);
  return trainer.train();
}

}  // namespace dpo
