// metrics.jsonl: one JSON object per logging step or evaluation, appended as the run goes.
//
// A line, as written by MetricsLog (keys in this order; values are numbers, or null when a
// value is not finite):
//   {"step": 20, "epoch": 0.5, "loss": 0.6412, "grad_norm": 1.3, "learning_rate": 1e-06,
//    "rewards/chosen": ..., "rewards/rejected": ..., "rewards/accuracies": ..., "rewards/margins":
//    ..., "logps/chosen": ..., "logps/rejected": ..., "logits/chosen": ..., "logits/rejected": ...,
//    "tokens_per_second": 812.5, "elapsed_seconds": 64.2}
// Evaluation lines carry TRL's `eval_` names (eval_loss, eval_rewards/accuracies, ...), SFT runs
// their own metrics (loss, mean_token_accuracy, entropy, num_tokens). `step` is the optimizer step
// (an integer >= 0) and comes first; every other key is a metric. Timing values (elapsed_seconds,
// tokens_per_second, *_runtime, *_per_second) differ from run to run; is_timing_key() tells them
// apart so that two runs can be compared on everything else.
//
// With TensorBoard on, every value also goes to an event file at the row's step, named as HF's
// TensorBoardCallback names it: "eval_x" -> "eval/x", anything else -> "train/x" (so
// "train/epoch").
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/fs.h"

namespace dpo::report {

class TensorBoardWriter;

inline constexpr const char* kMetricsFileName = "metrics.jsonl";

struct MetricsRow {
  int64_t step = 0;
  // Metric name -> value, in the order they are written. NaN/inf are written as null and read
  // back as NaN.
  std::vector<std::pair<std::string, double>> values;

  std::optional<double> get(const std::string& name) const;
  bool has(const std::string& name) const { return get(name).has_value(); }
  void set(const std::string& name, double value);  // replaces or appends
};

// One JSON object (no newline) for `row`.
std::string metrics_row_to_json(const MetricsRow& row);

// Parses one metrics.jsonl line; `where` ("path:line") starts every error message.
MetricsRow parse_metrics_line(std::string_view line, const std::string& where);

// Reads every row; blank lines are skipped; a malformed line is a UserError naming path:line.
std::vector<MetricsRow> read_metrics(const fs::path& path);
// The same for text in memory; `name` stands for the path in messages.
std::vector<MetricsRow> parse_metrics_text(const std::string& text, const std::string& name);

// For resume: keeps the lines with step <= `last_step` (byte for byte) and drops the rest, as one
// atomic rewrite. A last line without its newline (a kill mid-write) is dropped with the rest.
// Returns the number of rows kept. A missing file is left missing (0 rows).
size_t truncate_metrics_after(const fs::path& path, int64_t last_step);

// The console line for a log point, as HF's Trainer prints its logs:
//   {'loss': 0.6931, 'grad_norm': 1.234, 'learning_rate': 1e-06, ..., 'epoch': 0.05}
// (4 significant digits; the step is left out, as HF does; non-finite values print as nan/inf).
std::string format_log_line(const MetricsRow& row);

// elapsed_seconds, tokens_per_second and HF's *_runtime / *_per_second values.
bool is_timing_key(const std::string& name);

// HF TensorBoardCallback naming: "eval_loss" -> "eval/loss", "loss" -> "train/loss".
std::string tensorboard_tag(const std::string& name);

struct MetricsLogOptions {
  bool tensorboard = false;  // report_to contains "tensorboard"
  std::optional<int64_t>
      resume_step;  // resuming after this step: drop what a killed run wrote later
};

// Appends rows to OUTPUT_DIR/metrics.jsonl (and TensorBoard). A fresh run (no resume_step) starts
// metrics.jsonl empty; a resumed one keeps the rows up to resume_step. Each MetricsLog opens a new
// event file that begins with a SessionLog START (step 0 for a fresh run, resume_step + 1 on
// resume), so TensorBoard drops what older files in the folder hold for the steps rewritten now.
class MetricsLog {
 public:
  MetricsLog(const fs::path& output_dir, const MetricsLogOptions& options);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void write(const MetricsRow& row);
  const fs::path& path() const { return path_; }
  // The event file being written, or empty when TensorBoard is off.
  fs::path tensorboard_path() const;

 private:
  fs::path path_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace dpo::report
