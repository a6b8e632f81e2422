#include "train/trainer_parts.h"

#include <fmt/format.h>

#include "train/signals.h"

namespace dpo {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool NonfinitePolicy::stop_after(const StepOutcome& step, int64_t global_step, RunTotals& totals,
                                 LogWindow& window, ProgressLine& progress) const {
  if (!step.finite) {
    ++totals.nonfinite_in_a_row;
    progress.message(fmt::format(
        "warning: step {}: non-finite loss or gradient norm (loss {}, grad_norm {}); the "
        "update was skipped ({} in a row)",
        global_step, step.loss, step.grad_norm, totals.nonfinite_in_a_row));
    if (totals.nonfinite_in_a_row >= max_in_a_row_) return true;
  } else {
    totals.nonfinite_in_a_row = 0;
    window.loss_sum += step.loss;
    ++window.steps;
    totals.train_loss_sum += step.loss;
    ++totals.train_loss_steps;
    for (const auto& metrics : step.batch_metrics) window.metrics.add(metrics);
  }
  window.tokens += step.tokens;
  return false;
}

StopSignals::StopSignals(bool install) : installed_(install) {
  if (installed_) install_stop_handlers();
}

StopSignals::~StopSignals() {
  if (installed_) remove_stop_handlers();
}

int StopSignals::requested() const {
  return stop_signal();
}

void Throughput::add(const StepOutcome& step) {
  samples += step.samples;
  ++steps;
  tokens += step.tokens;
  positions += step.positions;
  real_positions += step.real_positions;
  shared_positions += step.shared_positions;
}

double Throughput::per_second(int64_t count, double seconds) const {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0.0;
}

double Throughput::padding_fraction() const {
  return positions > 0 ? 1.0 - static_cast<double>(real_positions) / static_cast<double>(positions)
                       : 0.0;
}

double Throughput::shared_fraction() const {
  const int64_t unshared = real_positions + shared_positions;
  return unshared > 0 ? static_cast<double>(shared_positions) / static_cast<double>(unshared) : 0.0;
}

ProgressStatus step_status(const StepOutcome& step, int64_t global_step, int64_t max_steps,
                           double elapsed_seconds) {
  ProgressStatus status;
  status.step = global_step;
  status.total_steps = max_steps;
  status.elapsed_seconds = elapsed_seconds;
  if (!step.batch_metrics.empty()) {
    // this step's values (the log lines give the means since the previous log)
    status.fields.push_back({"step loss", step.loss, 4});
    const auto& last = step.batch_metrics.back();
    if (auto it = last.find("rewards/accuracies"); it != last.end())
      status.fields.push_back({"acc", it->second, 3});
    if (auto it = last.find("rewards/margins"); it != last.end())
      status.fields.push_back({"margin", it->second, 3});
  }
  return status;
}

}  // namespace dpo
