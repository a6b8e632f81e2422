// The small collaborators of the training loop (trainer.cpp), each one concern: the log window,
// the non-finite policy, the stop signals, this process's throughput and the progress line's
// fields. Internal to train/.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/checkpoint.h"
#include "train/metrics.h"
#include "train/objective.h"
#include "util/progress.h"

namespace dpo {

double seconds_since(std::chrono::steady_clock::time_point start);

// What one optimizer step produced.
struct StepOutcome : AccumulatedStep {
  double grad_norm = 0.0;
  int64_t samples = 0;  // examples in the step's micro-batches
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

// A step with a non-finite loss or gradient norm is skipped (no update) with a warning;
// `max_in_a_row` of them in a row stop the run. Good steps add to the window and the totals.
class NonfinitePolicy {
 public:
  explicit NonfinitePolicy(int64_t max_in_a_row) : max_in_a_row_(max_in_a_row) {}
  // Returns true when the run must stop after `step`.
  bool stop_after(const StepOutcome& step, int64_t global_step, RunTotals& totals,
                  LogWindow& window, ProgressLine& progress) const;

 private:
  int64_t max_in_a_row_;
};

// SIGINT / SIGTERM handlers for the lifetime of the object (when `install`): the loop finishes
// the step, checkpoints and stops.
class StopSignals {
 public:
  explicit StopSignals(bool install);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int requested() const;  // 0, or the signal number

 private:
  bool installed_;
};

// What this process computed (a resumed run counts from its checkpoint).
struct Throughput {
  int64_t samples = 0;
  int64_t steps = 0;
  int64_t tokens = 0;
  int64_t positions = 0;         // token positions computed
  int64_t real_positions = 0;    // of them, not padding
  int64_t shared_positions = 0;  // prompt positions that prompt sharing did not compute again
  void add(const StepOutcome& step);
  double per_second(int64_t count, double seconds) const;
  double padding_fraction() const;  // of the computed positions
  double shared_fraction() const;   // of the positions the unshared layout computes for the tokens
};

// The progress line's status after a step: loss, reward accuracy and margin of its last batch.
ProgressStatus step_status(const StepOutcome& step, int64_t global_step, int64_t max_steps,
                           double elapsed_seconds);

}  // namespace dpo
