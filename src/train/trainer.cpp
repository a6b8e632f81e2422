// The training loop: a recipe of setup steps (trainer_setup.cpp), then optimizer steps of
// gradient-accumulated micro-batches, with logging, evaluation, checkpoints, signals and the
// final outputs. Arithmetic follows transformers' Trainer and TRL's DPOTrainer / SFTTrainer.
#include "train/trainer.h"

#include <fmt/format.h>

#include <cmath>
#include <csignal>
#include <cstdlib>

#include "data/batch.h"
#include "data/sampler.h"
#include "report/html_report.h"
#include "train/evaluate.h"
#include "train/generations.h"
#include "train/metrics.h"
#include "train/run_dir.h"
#include "train/signals.h"
#include "train/trainer_run.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/progress.h"

namespace dpo {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What one optimizer step produced.
struct StepOutcome {
  double loss = 0.0;  // sum of the scaled micro-batch losses (the step's mean loss)
  double grad_norm = 0.0;
  bool finite = true;
  int64_t tokens = 0;
  int64_t positions = 0;  // token positions computed (rows x row length), padding included
  std::vector<std::map<std::string, double>> batch_metrics;
};

// The window between two logs: HF averages loss over steps, TRL averages metrics over batches.
struct LogWindow {
  double loss_sum = 0.0;
  int64_t steps = 0;
  int64_t tokens = 0;
  MetricAverager metrics;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  void reset() { *this = LogWindow(); }
};

class Trainer {
 public:
  Trainer(Run& run) : run_(run), setup_(run.loss_setup()) {}
  TrainResult train();

 private:
  StepOutcome optimizer_step(const std::vector<std::vector<int64_t>>& group);
  TokenBatch preference_batch(const std::vector<int64_t>& positions, ReferenceLogps* reference,
                              bool* has_reference) const;
  TokenBatch sft_batch(const std::vector<int64_t>& positions) const;
  double epoch_now() const;
  void log_train(const StepOutcome& step);
  void run_evaluation();
  void write_row(report::MetricsRow row, bool to_history);
  void save_checkpoint();
  void answer_prompts(const std::string& phase);
  void finish(TrainResult& result);
  bool final_outputs_written() const;
  void print_summary(const TrainResult& result) const;

  Run& run_;
  LossSetup setup_;
  ProgressLine progress_;
  LogWindow window_;
  std::vector<std::vector<int64_t>> epoch_batches_;
  int64_t last_saved_step_ = -1;
  int64_t last_eval_step_ = -1;
  std::filesystem::path last_checkpoint_;
  std::map<std::string, double> last_train_metrics_, last_eval_metrics_;
  int64_t samples_seen_ = 0;
  int64_t steps_run_ = 0;  // by this process (a resumed run counts from its checkpoint)
  int64_t tokens_seen_ = 0;
  int64_t positions_computed_ = 0;  // this process's steps; padding = 1 - tokens / positions
};

TokenBatch Trainer::preference_batch(const std::vector<int64_t>& positions,
                                     ReferenceLogps* reference, bool* has_reference) const {
  std::vector<PreferenceExample> pairs;
  for (int64_t p : positions) pairs.push_back(run_.preference.train[p]);
  *has_reference = run_.reference.has_value();
  if (*has_reference) {
    RefLogpsTable rows = gather_ref_logps(run_.reference->train, positions);
    *reference = {rows.chosen, rows.rejected};
  }
  return run_.preference_batch(pairs);
}

TokenBatch Trainer::sft_batch(const std::vector<int64_t>& positions) const {
  std::vector<SftExample> examples;
  for (int64_t p : positions) examples.push_back(run_.sft.train[p]);
  return run_.sft_batch(examples);
}

// Gradient accumulation as transformers: every micro-batch loss is divided by the number of
// micro-batches in the step (SFT: by the completion tokens of the whole step), so the step's
// gradient is that of the mean over the whole step's data.
StepOutcome Trainer::optimizer_step(const std::vector<std::vector<int64_t>>& group) {
  StepOutcome out;
  run_.optimizer->zero_grad();
  std::vector<TokenBatch> batches;
  std::vector<ReferenceLogps> references(group.size());
  std::vector<bool> has_reference(group.size(), false);
  double sft_tokens = 0.0;
  for (size_t i = 0; i < group.size(); ++i) {
    if (run_.is_preference()) {
      bool has = false;
      batches.push_back(preference_batch(group[i], &references[i], &has));
      has_reference[i] = has;
    } else {
      batches.push_back(sft_batch(group[i]));
      sft_tokens += static_cast<double>(scored_token_count(batches.back()));
    }
  }
  for (size_t i = 0; i < group.size(); ++i) {
    BatchResult result;
    double scale = 1.0;
    if (run_.is_preference()) {
      result =
          preference_batch_loss(setup_, batches[i], has_reference[i] ? &references[i] : nullptr);
      scale = 1.0 / static_cast<double>(group.size());
    } else {
      result = sft_batch_loss(setup_, batches[i], sft_tokens);
      result.metrics["loss"] =
          result.loss_value * sft_tokens / std::max<double>(1, result.scored_tokens);
    }
    if (!std::isfinite(result.loss_value)) {
      out.finite = false;
      out.loss = result.loss_value;  // reported in the warning; the step is skipped
      continue;
    }
    (result.loss * scale).backward();
    out.loss += result.loss_value * scale;
    out.tokens += batches[i].real_tokens;
    out.positions += batches[i].input.input_ids.numel();
    out.batch_metrics.push_back(std::move(result.metrics));
  }
  out.grad_norm = clip_grad_norm(run_.trainable_parameters(), run_.config.max_grad_norm);
  if (!std::isfinite(out.grad_norm)) out.finite = false;
  if (out.finite) {
    run_.optimizer->set_lr(run_.schedule->lr(run_.state.global_step));
    run_.optimizer->step();
  }
  run_.optimizer->zero_grad();
  return out;
}

double Trainer::epoch_now() const {
  return static_cast<double>(run_.position.epoch) +
         static_cast<double>(run_.position.batch_in_epoch) /
             static_cast<double>(run_.plan.batches_per_epoch);
}

void Trainer::write_row(report::MetricsRow row, bool to_history) {
  if (run_.metrics) run_.metrics->write(row);
  if (!to_history) return;
  nlohmann::json entry = nlohmann::json::object();
  for (const auto& [name, value] : row.values)
    if (!report::is_timing_key(name) || name.rfind("eval_", 0) == 0 || name.rfind("train_", 0) == 0)
      entry[name] = std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
  entry["step"] = row.step;
  run_.state.log_history.push_back(entry);
}

void Trainer::log_train(const StepOutcome& step) {
  const int64_t global_step = run_.state.global_step;
  report::MetricsRow row;
  row.step = global_step;
  row.set("epoch", run_.state.epoch);
  row.set("loss", window_.steps > 0 ? window_.loss_sum / window_.steps : NAN);
  row.set("grad_norm", step.grad_norm);
  row.set("learning_rate", run_.schedule->lr(global_step));
  std::map<std::string, double> means = window_.metrics.mean();
  means.erase("loss");
  for (const auto& [name, value] : means) row.set(name, value);
  if (!run_.is_preference()) row.set("num_tokens", run_.state.num_input_tokens_seen);
  const double window_seconds = seconds_since(window_.started);
  row.set("tokens_per_second", window_seconds > 0 ? window_.tokens / window_seconds : 0.0);
  row.set("elapsed_seconds", seconds_since(run_.started));
  write_row(row, /*to_history=*/true);
  last_train_metrics_.clear();
  for (const auto& [name, value] : row.values) last_train_metrics_[name] = value;

  std::string line = fmt::format("step {}/{} (mean of {} step{})", global_step,
                                 run_.plan.max_steps, window_.steps, window_.steps == 1 ? "" : "s");
  for (const auto& [name, value] : row.values)
    if (!report::is_timing_key(name)) line += fmt::format(" | {} {:.6g}", name, value);
  progress_.message(line);
  window_.reset();
}

void Trainer::run_evaluation() {
  EvalData data;
  data.batch_size = run_.config.per_device_eval_batch_size;
  data.pad_token_id = run_.pad_token_id;
  data.device = run_.device;
  data.layout = run_.batch_layout();
  data.max_row_tokens = run_.packed_row_tokens();
  if (run_.is_preference()) {
    if (run_.preference.eval.empty()) return;
    data.preference = &run_.preference.eval;
    if (run_.reference) data.reference = &run_.reference->eval;
  } else {
    if (run_.sft.eval.empty()) return;
    data.sft = &run_.sft.eval;
  }
  if (run_.lora) run_.lora->set_dropout_active(false);
  std::map<std::string, double> metrics = evaluate(setup_, data);
  if (run_.lora) run_.lora->set_dropout_active(!run_.config.disable_dropout);
  report::MetricsRow row;
  row.step = run_.state.global_step;
  row.set("epoch", run_.state.epoch);
  for (const auto& [name, value] : metrics) row.set(name, value);
  write_row(row, /*to_history=*/true);
  last_eval_metrics_ = metrics;
  last_eval_step_ = run_.state.global_step;
  std::string line = fmt::format("eval at step {}", row.step);
  for (const auto& [name, value] : metrics)
    if (!report::is_timing_key(name)) line += fmt::format(" | {} {:.6g}", name, value);
  progress_.message(line);
}

void Trainer::save_checkpoint() {
  CheckpointData data;
  data.weights = run_.trained_weights();
  data.optimizer = run_.optimizer.get();
  data.scheduler_json = run_.schedule->to_json(run_.state.global_step);
  data.rng = run_.position;
  data.rng.cpu_generator = RngState::capture_cpu_generator();
  if (run_.device.is_cuda()) data.rng.cuda_generator = RngState::capture_cuda_generator();
  data.state = &run_.state;
  data.config_yaml = train_config_to_yaml(run_.config);
  last_checkpoint_ = write_checkpoint(run_.output_dir, run_.state.global_step, data);
  last_saved_step_ = run_.state.global_step;
  if (run_.config.save_total_limit)
    rotate_checkpoints(run_.output_dir, *run_.config.save_total_limit, last_checkpoint_);
  progress_.message(fmt::format("saved {}", last_checkpoint_.string()));
}

void Trainer::answer_prompts(const std::string& phase) {
  if (run_.config.eval_prompts.empty()) return;
  PromptAnswerer answerer;
  answerer.model = &*run_.model;
  answerer.tokenizer = &*run_.tokenizer;
  answerer.chat_template = run_.chat_template ? &*run_.chat_template : nullptr;
  answerer.max_new_tokens = run_.config.generation_max_new_tokens;
  if (run_.lora) run_.lora->set_dropout_active(false);
  write_generations(answerer, run_.config.eval_prompts, phase, run_.state.global_step,
                    run_.output_dir);
  if (run_.lora) run_.lora->set_dropout_active(!run_.config.disable_dropout);
}

// Test hook: DPO_TEST_SIGKILL_AFTER_STEP=N kills the process (SIGKILL) right after step N, to
// check that resuming reproduces an uninterrupted run.
void maybe_test_kill(int64_t step) {
  static const char* setting = std::getenv("DPO_TEST_SIGKILL_AFTER_STEP");
  if (setting && std::atoll(setting) == step) std::raise(SIGKILL);
}

TrainResult Trainer::train() {
  TrainResult result;
  result.output_dir = run_.output_dir;
  result.max_steps = run_.plan.max_steps;
  run_.started = std::chrono::steady_clock::now();
  if (run_.resume_dir && run_.state.global_step >= run_.plan.max_steps && final_outputs_written()) {
    // A finished run: nothing to train, evaluate, save or answer again. (A run killed between its
    // last checkpoint and its final outputs goes on to finish() below.)
    log_info(
        "{}: the run already finished at step {} of {}; nothing to do (raise max_steps or "
        "num_train_epochs to train further)",
        run_.resume_dir->string(), run_.state.global_step, run_.plan.max_steps);
    result.global_step = run_.state.global_step;
    result.epoch = run_.state.epoch;
    result.final_dir = run_.output_dir;
    return result;
  }
  if (!run_.resume_dir) answer_prompts("before");

  SamplerOptions sampler;
  sampler.batch_size = run_.config.per_device_train_batch_size;
  sampler.seed = static_cast<uint64_t>(run_.config.seed);
  epoch_batches_ = epoch_batches(run_.plan.num_examples, run_.position.epoch, sampler);
  const int64_t accumulation = run_.config.gradient_accumulation_steps;

  while (run_.state.global_step < run_.plan.max_steps) {
    if (run_.position.batch_in_epoch >= static_cast<int64_t>(epoch_batches_.size())) {
      ++run_.position.epoch;
      run_.position.batch_in_epoch = 0;
      epoch_batches_ = epoch_batches(run_.plan.num_examples, run_.position.epoch, sampler);
    }
    const int64_t begin = run_.position.batch_in_epoch;
    const int64_t end = std::min<int64_t>(begin + accumulation, epoch_batches_.size());
    std::vector<std::vector<int64_t>> group(epoch_batches_.begin() + begin,
                                            epoch_batches_.begin() + end);
    StepOutcome step = optimizer_step(group);
    run_.position.batch_in_epoch = end;
    ++run_.state.global_step;
    ++steps_run_;
    run_.state.epoch = epoch_now();
    for (const auto& positions : group) samples_seen_ += static_cast<int64_t>(positions.size());
    tokens_seen_ += step.tokens;
    positions_computed_ += step.positions;
    run_.state.num_input_tokens_seen += step.tokens;

    if (!step.finite) {
      ++run_.position.nonfinite_in_a_row;
      progress_.message(fmt::format(
          "warning: step {}: non-finite loss or gradient norm (loss {}, grad_norm {}); the "
          "update was skipped ({} in a row)",
          run_.state.global_step, step.loss, step.grad_norm, run_.position.nonfinite_in_a_row));
      if (run_.position.nonfinite_in_a_row >= run_.config.max_nonfinite_steps) {
        result.stopped_nonfinite = true;
        break;
      }
    } else {
      run_.position.nonfinite_in_a_row = 0;
      window_.loss_sum += step.loss;
      ++window_.steps;
      run_.position.train_loss_sum += step.loss;
      ++run_.position.train_loss_steps;
      for (const auto& metrics : step.batch_metrics) window_.metrics.add(metrics);
    }
    window_.tokens += step.tokens;

    const int64_t global_step = run_.state.global_step;
    const bool log_now = global_step % run_.plan.logging_steps == 0 ||
                         (global_step == 1 && run_.config.logging_first_step) ||
                         global_step == run_.plan.max_steps;
    if (log_now) log_train(step);
    if (run_.plan.eval_steps > 0 && global_step % run_.plan.eval_steps == 0) run_evaluation();
    if (global_step % run_.plan.save_steps == 0) save_checkpoint();

    ProgressStatus status;
    status.step = global_step;
    status.total_steps = run_.plan.max_steps;
    status.elapsed_seconds = seconds_since(run_.started);
    if (!step.batch_metrics.empty()) {
      // this step's values (the log lines give the means since the previous log)
      status.fields.push_back({"step loss", step.loss, 4});
      const auto& last = step.batch_metrics.back();
      if (auto it = last.find("rewards/accuracies"); it != last.end())
        status.fields.push_back({"acc", it->second, 3});
      if (auto it = last.find("rewards/margins"); it != last.end())
        status.fields.push_back({"margin", it->second, 3});
    }
    if (run_.options.show_progress) progress_.update(status, log_now);
    maybe_test_kill(global_step);

    if (int signal_number = stop_signal()) {
      if (last_saved_step_ != global_step) save_checkpoint();
      result.interrupted = true;
      result.stop_signal = signal_number;
      progress_.finish();
      log_warn(
          "stopped by {} after step {}; checkpoint {}. Resume with the same command plus "
          "resume_from_checkpoint=latest",
          signal_number == SIGINT ? "SIGINT" : "SIGTERM", global_step, last_checkpoint_.string());
      break;
    }
  }
  progress_.finish();
  if (!result.interrupted && !result.stopped_nonfinite) finish(result);
  if (result.stopped_nonfinite)
    log_error(
        "stopped: {} steps in a row had a non-finite loss or gradient norm; the last good "
        "checkpoint is {}. Lower learning_rate, check the data, or raise "
        "max_nonfinite_steps",
        run_.config.max_nonfinite_steps,
        last_checkpoint_.empty() ? "(none written)" : last_checkpoint_.string());
  result.global_step = run_.state.global_step;
  result.epoch = run_.state.epoch;
  result.last_checkpoint = last_checkpoint_;
  result.reference_forwards = run_.reference_forwards;
  result.runtime_s = seconds_since(run_.started);
  result.samples_per_second = result.runtime_s > 0 ? samples_seen_ / result.runtime_s : 0.0;
  result.tokens_per_second = result.runtime_s > 0 ? tokens_seen_ / result.runtime_s : 0.0;
  return result;
}

// The final trainer_state.json, written last by finish() after the final weights, is at the end.
bool Trainer::final_outputs_written() const {
  const fs::path state = run_.output_dir / "trainer_state.json";
  std::error_code ec;
  return fs::exists(state, ec) &&
         TrainerState::from_file(state).global_step >= run_.plan.max_steps;
}

void Trainer::finish(TrainResult& result) {
  const int64_t global_step = run_.state.global_step;
  if (last_eval_step_ != global_step) run_evaluation();
  if (last_saved_step_ != global_step) save_checkpoint();
  answer_prompts("after");

  const double runtime = seconds_since(run_.started);
  report::MetricsRow summary;
  summary.step = global_step;
  summary.set("epoch", run_.state.epoch);
  summary.set("train_runtime", runtime);
  summary.set("train_samples_per_second", runtime > 0 ? samples_seen_ / runtime : 0.0);
  summary.set("train_steps_per_second", runtime > 0 ? steps_run_ / runtime : 0.0);
  summary.set("train_tokens_per_second", runtime > 0 ? tokens_seen_ / runtime : 0.0);
  const RngState& totals = run_.position;
  summary.set("train_loss",
              totals.train_loss_steps > 0 ? totals.train_loss_sum / totals.train_loss_steps : NAN);
  summary.set("reference_forwards", static_cast<double>(run_.reference_forwards));
  write_row(summary, /*to_history=*/true);

  // The final weights, trainer_state.json and tokenizer files in output_dir itself.
  write_trained_weights(run_.output_dir, run_.trained_weights());
  write_file_atomic(run_.output_dir / "trainer_state.json", run_.state.to_json());
  run_.metrics.reset();  // flush and close before the report reads the files
  try {
    report::write_report(run_.output_dir);
  } catch (const std::exception& e) {
    log_warn("report.html not written: {}", e.what());
  }
  result.final_dir = run_.output_dir;
  result.final_metrics = last_train_metrics_;
  for (const auto& [name, value] : last_eval_metrics_) result.final_metrics[name] = value;
  result.global_step = global_step;
  result.runtime_s = runtime;
  result.samples_per_second = runtime > 0 ? samples_seen_ / runtime : 0.0;
  result.tokens_per_second = runtime > 0 ? tokens_seen_ / runtime : 0.0;
  result.padding_fraction =
      positions_computed_ > 0 ? 1.0 - static_cast<double>(tokens_seen_) / positions_computed_ : 0.0;
  result.reference_forwards = run_.reference_forwards;
  print_summary(result);
}

void Trainer::print_summary(const TrainResult& result) const {
  // SFT has no reference model: no count of its passes.
  const std::string reference =
      run_.is_preference() ? fmt::format(", {} reference forward passes", result.reference_forwards)
                           : "";
  std::string text = fmt::format(
      "done: {} steps in {:.1f} s ({:.2f} samples/s, {:.0f} tokens/s, {:.1f}% of the computed "
      "token positions padding{}){}; outputs in {}",
      result.global_step, result.runtime_s, result.samples_per_second, result.tokens_per_second,
      100.0 * result.padding_fraction,
      run_.config.padding_free        ? ", packed: padding_free"
      : result.padding_fraction > 0.2 ? "; padding_free: true (the default) reduces it"
                                      : "",
      reference, result.output_dir.string());
  for (const auto& [name, value] : result.final_metrics)
    if (!report::is_timing_key(name)) text += fmt::format("\n  {:<28} {:.6g}", name, value);
  log_info("{}", text);
}

}  // namespace

TrainResult run_training(const TrainConfig& config, TrainMode mode, const RunOptions& options) {
  Run run;
  run.config = config;
  run.mode = mode;
  run.options = options;
  run.output_dir = config.output_dir;
  ensure_directory(run.output_dir);
  const OutputDirLock output_lock(run.output_dir);  // held until training returns
  for (const auto& name : clean_stale_temporaries(run.output_dir))
    log_info("{}: cleaned up {} (left by an interrupted run)", run.output_dir.string(), name);
  if (config.resume_from_checkpoint)
    run.resume_dir = resolve_resume_checkpoint(*config.resume_from_checkpoint, run.output_dir);
  if (!run.resume_dir) {  // a fresh run starts its logs empty
    std::error_code ignored;
    fs::remove(run.output_dir / "generations.jsonl", ignored);
  }
  write_file_atomic(run.output_dir / "config.yaml", train_config_to_yaml(config));

  setup_device(run);
  setup_tokenizer(run);
  setup_data(run);
  setup_model(run);
  setup_reference(run);
  setup_plan(run);
  setup_optimizer(run);

  report::MetricsLogOptions log_options;
  log_options.tensorboard = std::find(config.report_to.begin(), config.report_to.end(),
                                      "tensorboard") != config.report_to.end();
  if (run.resume_dir) log_options.resume_step = run.state.global_step;
  const bool jsonl =
      std::find(config.report_to.begin(), config.report_to.end(), "none") == config.report_to.end();
  if (jsonl) run.metrics = std::make_unique<report::MetricsLog>(run.output_dir, log_options);

  if (options.handle_signals) install_stop_handlers();
  Trainer trainer(run);
  TrainResult result;
  try {
    result = trainer.train();
  } catch (...) {
    if (options.handle_signals) remove_stop_handlers();
    throw;
  }
  if (options.handle_signals) remove_stop_handlers();
  return result;
}

}  // namespace dpo
