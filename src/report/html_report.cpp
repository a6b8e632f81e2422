#include "report/html_report.h"

#include <fmt/format.h>

#include <cmath>
#include <set>

#include "report/run_charts.h"
#include "report/svg_chart.h"
#include "util/error.h"
#include "util/strings.h"

namespace dpo::report {
namespace {

constexpr const char* kStyle = R"css(
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1440px; color: #1d1d1f; background: #fafafa; }
h1 { font-size: 1.5rem; margin: 8px 0 4px; }
h2 { font-size: 1.2rem; margin: 28px 0 10px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 1rem; margin: 0 0 6px; }
.sub { color: #666; margin: 0 0 12px; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #ddd; padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: #f0f0f2; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.summary { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
.card { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 10px 12px; }
.card.missing { color: #666; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { fill: #333; font-family: inherit; }
svg.chart text.label { fill: #555; }
svg.chart .grid line { stroke: #ececec; }
svg.chart .axis line { stroke: #888; }
.note { color: #666; font-size: 0.9rem; }
table.generations { width: 100%; table-layout: fixed; }
table.generations td { white-space: pre-wrap; word-wrap: break-word; font-size: 0.92rem; }
table.generations td.prompt { background: #f7f7f9; }
.missing-answer { color: #999; font-style: italic; }
details { margin-top: 12px; }
#chart-check { color: #b00020; font-weight: 600; }
)css";

// Checks that every chart drew its lines; marks the page for scripts/check-report.sh.
constexpr const char* kSelfCheckScript = R"js(
(function () {
  var problems = [];
  window.addEventListener('error', function (e) { problems.push('script error: ' + e.message); });
  var charts = document.querySelectorAll('svg.chart');
  var expected = parseInt(document.body.getAttribute('data-expected-charts'), 10);
  if (charts.length !== expected) problems.push(charts.length + ' charts, expected ' + expected);
  charts.forEach(function (svg) {
    var paths = svg.querySelectorAll('path.series');
    if (paths.length === 0) problems.push(svg.id + ': no line');
    paths.forEach(function (path) {
      var d = (path.getAttribute('d') || '').trim();
      if (!/^M\s*-?[0-9.]+\s+-?[0-9.]+/.test(d)) problems.push(svg.id + ': empty or invalid path');
      var box = path.getBBox();
      if (d.indexOf('L') >= 0 && box.width === 0 && box.height === 0) problems.push(svg.id + ': line not rendered');
    });
  });
  var ok = problems.length === 0;
  document.body.setAttribute('data-chart-check', ok ? 'ok' : 'fail');
  document.title = (ok ? '[charts ok] ' : '[charts FAILED] ') + document.title;
  if (!ok) {
    var banner = document.getElementById('chart-check');
    banner.textContent = 'Chart self-check failed: ' + problems.join('; ');
    banner.hidden = false;
    console.error('report chart check failed: ' + problems.join('; '));
  }
})();
)js";

std::string format_number(double value) {
  if (!std::isfinite(value)) return "n/a";
  return fmt::format("{:.4g}", value);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "n/a";
  if (seconds < 60) return fmt::format("{:.1f} s", seconds);
  auto total = static_cast<long long>(std::llround(seconds));
  if (total < 3600) return fmt::format("{}m {:02}s", total / 60, total % 60);
  return fmt::format("{}h {:02}m {:02}s", total / 3600, (total / 60) % 60, total % 60);
}

std::optional<double> last_value(const std::vector<MetricsRow>& rows, const std::string& name) {
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    auto v = it->get(name);
    if (v && std::isfinite(*v)) return v;
  }
  return std::nullopt;
}

std::optional<double> max_value(const std::vector<MetricsRow>& rows, const std::string& name) {
  std::optional<double> best;
  for (const auto& row : rows) {
    auto v = row.get(name);
    if (v && std::isfinite(*v) && (!best || *v > *best)) best = v;
  }
  return best;
}

std::optional<double> mean_value(const std::vector<MetricsRow>& rows, const std::string& name) {
  double sum = 0;
  int count = 0;
  for (const auto& row : rows) {
    auto v = row.get(name);
    if (v && std::isfinite(*v)) sum += *v, ++count;
  }
  if (count == 0) return std::nullopt;
  return sum / count;
}

std::string table_row(const std::string& key, const std::string& value_html) {
  return fmt::format("<tr><th>{}</th><td>{}</td></tr>", escape_html(key), value_html);
}

// Model, data and the settings that shape a run, from config.yaml.
std::string settings_table(const RunData& run) {
  if (!run.has_config)
    return "<p class=\"note\">config.yaml not found in the run folder: settings unknown.</p>";
  static const std::vector<std::pair<const char*, const char*>> kShown = {
      {"model_name_or_path", "model"},
      {"dataset", "data"},
      {"eval_dataset", "eval data"},
      {"loss_type", "loss"},
      {"beta", "beta"},
      {"learning_rate", "learning rate"},
      {"lr_scheduler_type", "schedule"},
      {"per_device_train_batch_size", "batch size"},
      {"gradient_accumulation_steps", "gradient accumulation"},
      {"num_train_epochs", "epochs"},
      {"max_steps", "max steps"},
      {"max_length", "max length"},
      {"lora_r", "LoRA r"},
      {"lora_alpha", "LoRA alpha"},
      {"device", "device"},
      {"bf16", "bf16"},
      {"seed", "seed"},
  };
  std::string out = "<table class=\"settings\"><caption><h3>Settings</h3></caption>";
  for (const auto& [key, label] : kShown) {
    auto value = config_value(run.config, key);
    if (value && !value->empty() && *value != "null")
      out += table_row(label, "<code>" + escape_html(*value) + "</code>");
  }
  return out + "</table>";
}

std::string progress_table(const RunData& run) {
  const auto& rows = run.metrics;
  std::string out = "<table class=\"progress\"><caption><h3>Run</h3></caption>";
  const RunKind kind = detect_run_kind(rows);
  out +=
      table_row("kind", kind == RunKind::kPreference ? "preference optimization (DPO family)"
                        : kind == RunKind::kReferenceFree
                            ? "reference-free preference optimization (CPO, SimPO or ORPO)"
                        : kind == RunKind::kKto ? "KTO on unpaired desirable / undesirable examples"
                                                : "supervised fine-tuning (SFT)");
  out += table_row("log lines", std::to_string(rows.size()));
  if (!rows.empty()) out += table_row("last step", std::to_string(rows.back().step));
  if (auto epoch = last_value(rows, "epoch")) out += table_row("epoch", format_number(*epoch));
  if (auto elapsed = max_value(rows, "elapsed_seconds"))
    out += table_row("duration", format_duration(*elapsed));
  if (auto runtime = last_value(rows, "train_runtime");
      runtime && !max_value(rows, "elapsed_seconds"))
    out += table_row("duration", format_duration(*runtime));
  if (auto tps = mean_value(rows, "tokens_per_second"))
    out += table_row("tokens / s",
                     format_number(*tps) + " <span class=\"note\">(mean over log lines)</span>");
  return out + "</table>";
}

// The last finite train and eval value of each charted metric.
std::string last_metrics_table(const RunData& run, const std::vector<ChartSlot>& slots) {
  std::string body;
  std::set<std::string> done;
  for (const auto& slot : slots) {
    for (const auto& metric : slot.metrics) {
      if (starts_with(metric, "eval_") || !done.insert(metric).second) continue;
      auto train = last_value(run.metrics, metric);
      auto eval = last_value(run.metrics, "eval_" + metric);
      if (!train && !eval) continue;
      body += fmt::format("<tr><th>{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                          escape_html(metric), train ? format_number(*train) : "",
                          eval ? format_number(*eval) : "");
    }
  }
  if (body.empty()) return "";
  return "<table class=\"last\"><caption><h3>Last "
         "values</h3></caption><tr><th>metric</th><th>train</th><th>eval</th></tr>" +
         body + "</table>";
}

std::string full_config(const RunData& run) {
  if (!run.has_config || run.config.empty()) return "";
  std::string out = "<details><summary>Full configuration (config.yaml)</summary><table>";
  for (const auto& [key, value] : run.config)
    out += table_row(key, "<code>" + escape_html(value) + "</code>");
  return out + "</table></details>";
}

std::string charts_section(const RunData& run, const std::vector<ChartSlot>& slots) {
  std::string out = "<h2>Training curves</h2>";
  if (detect_run_kind(run.metrics) == RunKind::kSft)
    out +=
        "<p class=\"note\">An SFT run: no preference metrics (rewards/*, logps/*) to chart; its "
        "own metrics follow.</p>";
  out += "<div class=\"charts\">";
  for (const auto& slot : slots) {
    if (slot.drawn) {
      out += fmt::format("<div class=\"card\"><h3>{}</h3>{}</div>", escape_html(slot.spec.title),
                         render_line_chart(slot.spec));
    } else {
      out += fmt::format("<div class=\"card missing\"><h3>{}</h3><p class=\"note\">{}</p></div>",
                         escape_html(slot.spec.title), escape_html(slot.note));
    }
  }
  return out + "</div>";
}

std::string generations_section(const RunData& run) {
  std::string out = "<h2>Generations before and after training</h2>";
  if (run.generations.empty())
    return out +
           "<p class=\"note\">No generations.jsonl in the run folder (set "
           "<code>eval_prompts</code> to get answers "
           "before and after training).</p>";
  GenerationTable table = tabulate_generations(run.generations);
  out += "<table class=\"generations\"><tr><th>prompt</th>";
  for (const auto& phase : table.phases) out += "<th>" + escape_html(phase) + "</th>";
  out += "</tr>";
  for (size_t row = 0; row < table.prompts.size(); ++row) {
    out += "<tr><td class=\"prompt\">" + escape_html(table.prompts[row]) + "</td>";
    for (size_t col = 0; col < table.phases.size(); ++col) {
      const auto& cell = col < table.cells[row].size() ? table.cells[row][col] : std::nullopt;
      out += cell ? "<td>" + escape_html(*cell) + "</td>"
                  : "<td class=\"missing-answer\">(no answer)</td>";
    }
    out += "</tr>";
  }
  return out + "</table>";
}

}  // namespace

RunData load_run(const fs::path& run_dir) {
  std::error_code ec;
  if (!fs::exists(run_dir, ec)) throw_user_error("{}: no such run folder", run_dir.string());
  if (!fs::is_directory(run_dir, ec))
    throw_user_error("{}: not a directory (expected a run folder)", run_dir.string());
  RunData run;
  run.run_dir = run_dir;
  run.name = fs::absolute(run_dir).lexically_normal().filename().string();
  if (run.name.empty())
    run.name = fs::absolute(run_dir).lexically_normal().parent_path().filename().string();
  fs::path metrics = run_dir / kMetricsFileName;
  if (!fs::exists(metrics, ec))
    throw_user_error("{}: not found; a run folder written by `dpo train` or `dpo sft` has one",
                     metrics.string());
  run.metrics = read_metrics(metrics);
  fs::path config = run_dir / "config.yaml";
  if (fs::exists(config, ec)) {
    run.has_config = true;
    std::string problem;
    run.config = parse_config_text(read_file(config), &problem);
    if (!problem.empty())
      throw_user_error(
          "{} {} (expected the config.yaml that dpo train writes; restore or remove it)",
          config.string(), problem);
  }
  fs::path generations = run_dir / kGenerationsFileName;
  if (fs::exists(generations, ec)) run.generations = read_generations(generations);
  return run;
}

std::string render_report(const RunData& run) {
  std::vector<ChartSlot> slots = build_charts(run.metrics);
  size_t drawn = 0;
  for (const auto& slot : slots) drawn += slot.drawn;
  std::string title = "dpo report: " + run.name;

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  html += "<title>" + escape_html(title) + "</title><style>" + kStyle + "</style></head>\n";
  html += fmt::format("<body data-expected-charts=\"{}\" data-chart-check=\"pending\">", drawn);
  html += "<h1>" + escape_html(title) + "</h1>";
  html += "<p class=\"sub\">Run folder <code>" + escape_html(run.run_dir.string()) + "</code></p>";
  html += "<p id=\"chart-check\" hidden></p>";
  if (run.metrics.empty())
    html += "<p class=\"note\">metrics.jsonl is empty: nothing was logged yet.</p>";
  html += "<h2>Summary</h2><div class=\"summary\">" + progress_table(run) + settings_table(run) +
          last_metrics_table(run, slots) + "</div>" + full_config(run);
  html += charts_section(run, slots);
  html += generations_section(run);
  html += "\n<script>" + std::string(kSelfCheckScript) + "</script>\n</body></html>\n";
  return html;
}

fs::path write_report(const fs::path& run_dir) {
  RunData run = load_run(run_dir);
  fs::path out = run_dir / kReportFileName;
  write_file_atomic(out, render_report(run));
  return out;
}

}  // namespace dpo::report
