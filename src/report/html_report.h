// report.html: one self-contained page for a run folder (no network: inline CSS, inline SVG, one
// small inline script that checks its own charts).
//
// Reads RUN_DIR/metrics.jsonl (required), RUN_DIR/config.yaml (summary; optional) and
// RUN_DIR/generations.jsonl (before/after answers; optional) and shows
//   - a run summary: model, data, key settings, steps, duration, tokens/s, last metrics;
//   - line charts over steps: train/eval loss, rewards chosen & rejected, margins, accuracies,
//     log-probs, learning rate, grad norm, tokens/s (SFT runs: loss, mean token accuracy, entropy,
//     learning rate, grad norm, tokens/s), then any other logged metric; a chart whose metrics are
//     absent is replaced by a short note;
//   - the generations side by side, one row per prompt, one column per phase.
// The script sets <body data-chart-check="ok|fail"> and prefixes document.title with
// "[charts ok]" or "[charts FAILED]" (scripts/check-report.sh reads it with headless Chromium).
#pragma once
#include <string>
#include <vector>

#include "report/config_text.h"
#include "report/generations.h"
#include "report/metrics_log.h"
#include "util/fs.h"

namespace dpo::report {

inline constexpr const char* kReportFileName = "report.html";

struct RunData {
  std::string name;  // the run folder's name, for the title
  fs::path run_dir;
  bool has_config = false;
  ConfigEntries config;  // top-level keys of config.yaml
  std::vector<MetricsRow> metrics;
  std::vector<Generation> generations;
};

// Reads the run folder. UserError when RUN_DIR is not a directory, metrics.jsonl is missing, or a
// line of metrics.jsonl / generations.jsonl is malformed (path:line).
RunData load_run(const fs::path& run_dir);

// The complete HTML page.
std::string render_report(const RunData& run);

// load_run + render_report, written atomically to RUN_DIR/report.html; returns its path.
// The trainer calls this at the end of every `dpo train` / `dpo sft` run (a UserError from a
// damaged generations.jsonl there is worth a warning, not a failed run).
fs::path write_report(const fs::path& run_dir);

}  // namespace dpo::report
