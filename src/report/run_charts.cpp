#include "report/run_charts.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <set>

#include "util/strings.h"

namespace dpo::report {
namespace {

// Okabe-Ito colours (distinguishable with colour blindness).
constexpr const char* kBlue = "#0072B2";
constexpr const char* kOrange = "#E69F00";
constexpr const char* kGreen = "#009E73";
constexpr const char* kRed = "#D55E00";
constexpr const char* kPurple = "#CC79A7";

struct SeriesDef {
  std::string metric;
  std::string label;
  std::string color;
  bool dashed = false;
};

SeriesDef line(std::string metric, std::string label, std::string color, bool dashed = false) {
  SeriesDef s;
  s.metric = std::move(metric);
  s.label = std::move(label);
  s.color = std::move(color);
  s.dashed = dashed;
  return s;
}

struct ChartDef {
  std::string id, title, y_label;
  std::vector<SeriesDef> series;
  std::optional<double> reference_y;
  std::string reference_label;
  std::optional<double> y_min, y_max;

  ChartDef(std::string id_, std::string title_, std::string y_label_,
           std::vector<SeriesDef> series_)
      : id(std::move(id_)),
        title(std::move(title_)),
        y_label(std::move(y_label_)),
        series(std::move(series_)) {}
  ChartDef&& reference(double y, std::string label) && {
    reference_y = y;
    reference_label = std::move(label);
    return std::move(*this);
  }
  ChartDef&& bounds(double lo, double hi) && {
    y_min = lo;
    y_max = hi;
    return std::move(*this);
  }
};

// A train metric and its eval twin (dashed, same colour).
std::vector<SeriesDef> train_and_eval(const std::string& metric, const std::string& label,
                                      const char* color) {
  return {line(metric, "train " + label, color),
          line("eval_" + metric, "eval " + label, color, true)};
}

std::vector<SeriesDef> concat(std::vector<SeriesDef> a, const std::vector<SeriesDef>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

ChartDef loss_chart(RunKind kind) {
  ChartDef c("chart-loss", "Loss", "loss",
             {line("loss", "train loss", kBlue), line("eval_loss", "eval loss", kOrange, true)});
  if (kind == RunKind::kPreference)
    return std::move(c).reference(std::log(2.0), "ln 2 (untrained)");
  return c;
}

// The DPO family's charts; a reference-free run's the same, its loss without DPO's ln 2 line
// (rewards there are beta * log-probs, not log-ratios); KTO's without that line and without
// reward accuracies (its rewards are per example, not per pair).
std::vector<ChartDef> preference_charts(RunKind kind) {
  std::vector<ChartDef> charts;
  charts.push_back(loss_chart(kind));
  charts.push_back(ChartDef("chart-rewards", "Rewards: chosen and rejected", "reward",
                            concat(train_and_eval("rewards/chosen", "chosen", kGreen),
                                   train_and_eval("rewards/rejected", "rejected", kRed)))
                       .reference(0.0, ""));
  charts.push_back(ChartDef("chart-margins", "Reward margin (chosen - rejected)", "margin",
                            train_and_eval("rewards/margins", "margin", kBlue))
                       .reference(0.0, "zero"));
  if (kind != RunKind::kKto)
    charts.push_back(ChartDef("chart-accuracies", "Reward accuracy (chosen > rejected)", "accuracy",
                              train_and_eval("rewards/accuracies", "accuracy", kBlue))
                         .reference(0.5, "chance (0.5)")
                         .bounds(0.0, 1.0));
  charts.push_back(ChartDef("chart-logps", "Log-probabilities of chosen and rejected", "log p",
                            concat(train_and_eval("logps/chosen", "chosen", kGreen),
                                   train_and_eval("logps/rejected", "rejected", kRed))));
  return charts;
}

std::vector<ChartDef> sft_charts() {
  std::vector<ChartDef> charts;
  charts.push_back(loss_chart(RunKind::kSft));
  charts.push_back(ChartDef("chart-token-accuracy", "Mean token accuracy", "accuracy",
                            train_and_eval("mean_token_accuracy", "token accuracy", kBlue))
                       .bounds(0.0, 1.0));
  charts.push_back(ChartDef("chart-entropy", "Entropy of the next-token distribution",
                            "entropy (nats)", train_and_eval("entropy", "entropy", kPurple)));
  return charts;
}

std::vector<ChartDef> common_charts() {
  std::vector<ChartDef> charts;
  charts.emplace_back("chart-learning-rate", "Learning rate", "learning rate",
                      std::vector<SeriesDef>{line("learning_rate", "learning rate", kBlue)});
  charts.emplace_back("chart-grad-norm", "Gradient norm (before clipping)", "grad norm",
                      std::vector<SeriesDef>{line("grad_norm", "grad norm", kBlue)});
  charts.emplace_back("chart-tokens-per-second", "Throughput", "tokens / s",
                      std::vector<SeriesDef>{line("tokens_per_second", "tokens/s", kGreen)});
  return charts;
}

ChartSeries collect_series(const std::vector<MetricsRow>& rows, const SeriesDef& def) {
  ChartSeries s;
  s.label = def.label;
  s.color = def.color;
  s.dashed = def.dashed;
  for (const auto& row : rows) {
    auto value = row.get(def.metric);
    if (!value) continue;
    s.x.push_back(static_cast<double>(row.step));
    s.y.push_back(*value);
  }
  return s;
}

bool series_has_finite(const ChartSeries& s) {
  for (double v : s.y)
    if (std::isfinite(v)) return true;
  return false;
}

ChartSlot make_slot(const std::vector<MetricsRow>& rows, const ChartDef& def) {
  ChartSlot slot;
  slot.spec.id = def.id;
  slot.spec.title = def.title;
  slot.spec.y_label = def.y_label;
  slot.spec.reference_y = def.reference_y;
  slot.spec.reference_label = def.reference_label;
  slot.spec.y_min = def.y_min;
  slot.spec.y_max = def.y_max;
  for (const auto& series_def : def.series) {
    slot.metrics.push_back(series_def.metric);
    ChartSeries s = collect_series(rows, series_def);
    if (series_has_finite(s)) slot.spec.series.push_back(std::move(s));
  }
  slot.drawn = !slot.spec.series.empty();
  if (!slot.drawn) {
    std::vector<std::string> names;
    for (const auto& s : def.series) names.push_back(s.metric);
    slot.note = "Not drawn: metrics.jsonl has no finite values of " + join(names, ", ") + ".";
  }
  return slot;
}

// Keys that are not charted on their own: the x axis, the epoch counter, timing and end-of-run
// summary values.
bool is_uncharted(const std::string& name) {
  return name == "epoch" || name == "eval_epoch" ||
         (is_timing_key(name) && name != "tokens_per_second") || starts_with(name, "train_") ||
         name == "total_flos";
}

std::string pretty_id(const std::string& name) {
  std::string id = "chart-";
  for (char c : name) id.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '-');
  return id;
}

}  // namespace

RunKind detect_run_kind(const std::vector<MetricsRow>& rows) {
  bool rewards = false, entropy = false, kl = false, nll = false;
  for (const auto& row : rows)
    for (const auto& [key, value] : row.values) {
      if (starts_with(key, "rewards/") || starts_with(key, "eval_rewards/")) rewards = true;
      if (key == "entropy" || key == "eval_entropy") entropy = true;
      if (key == "kl" || key == "eval_kl") kl = true;
      if (key == "nll_loss" || key == "eval_nll_loss") nll = true;
    }
  if (!rewards) return RunKind::kSft;
  if (kl) return RunKind::kKto;
  return nll && !entropy ? RunKind::kReferenceFree : RunKind::kPreference;
}

std::vector<std::string> metric_names(const std::vector<MetricsRow>& rows) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (const auto& row : rows)
    for (const auto& [key, value] : row.values)
      if (seen.insert(key).second) names.push_back(key);
  return names;
}

std::vector<ChartSlot> build_charts(const std::vector<MetricsRow>& rows) {
  RunKind kind = detect_run_kind(rows);
  std::vector<ChartDef> defs = kind == RunKind::kSft ? sft_charts() : preference_charts(kind);
  for (auto& def : common_charts()) defs.push_back(std::move(def));

  std::vector<ChartSlot> slots;
  std::set<std::string> covered;
  for (const auto& def : defs) {
    slots.push_back(make_slot(rows, def));
    for (const auto& m : slots.back().metrics) covered.insert(m);
  }
  // Every other metric: one chart, its eval twin dashed beside it.
  for (const auto& name : metric_names(rows)) {
    if (covered.count(name) || is_uncharted(name)) continue;
    std::string base = starts_with(name, "eval_") ? name.substr(5) : name;
    if (covered.count(base) || covered.count("eval_" + base)) continue;
    ChartDef def(pretty_id(base), base, base, train_and_eval(base, base, kBlue));
    slots.push_back(make_slot(rows, def));
    covered.insert(base);
    covered.insert("eval_" + base);
  }
  return slots;
}

}  // namespace dpo::report
