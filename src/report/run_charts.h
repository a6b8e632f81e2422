// Which charts a run's report shows, built from its metrics.jsonl rows.
#pragma once
#include <string>
#include <vector>

#include "report/metrics_log.h"
#include "report/svg_chart.h"

namespace dpo::report {

enum class RunKind { kPreference, kReferenceFree, kKto, kSft };

// Preference when any row has rewards/* or eval_rewards/*: KTO when the rows also carry its kl,
// a reference-free method (CPO, SimPO, ORPO) when they carry nll_loss but not the entropy that
// TRL's DPOTrainer logs (CPO's and ORPO's trainers log nll_loss always, entropy never), else the
// DPO family. SFT otherwise.
RunKind detect_run_kind(const std::vector<MetricsRow>& rows);

// A chart slot: either a chart to draw, or a note saying why it is not there.
struct ChartSlot {
  ChartSpec spec;
  std::vector<std::string> metrics;  // the metric names it plots (train and eval)
  bool drawn = false;                // false: `note` explains what is missing
  std::string note;
};

// The standard charts for the run kind, then one chart per other logged metric (train and eval
// together), skipping step, epoch and timing/summary values other than tokens_per_second.
std::vector<ChartSlot> build_charts(const std::vector<MetricsRow>& rows);

// Metric names that rows carry, in first-appearance order.
std::vector<std::string> metric_names(const std::vector<MetricsRow>& rows);

}  // namespace dpo::report
