// Inline SVG line charts for report.html: axes, "nice" ticks (1-2-5 steps), grid, legend,
// optional reference line. No scripts, no fonts beyond the page's: the SVG is drawn as is.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/strings.h"  // escape_html

namespace dpo::report {

struct ChartSeries {
  std::string label;
  std::vector<double> x;  // steps, ascending
  std::vector<double> y;  // NaN breaks the line
  std::string color = "#0072B2";
  bool dashed = false;
};

struct ChartSpec {
  std::string id;     // DOM id of the <svg>
  std::string title;  // accessible title (<title>); the page shows it as a heading
  std::string x_label = "step";
  std::string y_label;
  std::vector<ChartSeries> series;
  std::optional<double> reference_y;  // e.g. 0.5 for accuracies, 0 for margins, ln 2 for loss
  std::string reference_label;
  std::optional<double> y_min, y_max;  // fixed bounds (e.g. accuracies 0..1); data may widen them
};

struct Ticks {
  std::vector<double> values;  // from lo to hi inclusive
  double step = 1;
  double lo = 0, hi = 1;  // the axis domain: lo = values.front(), hi = values.back()
};

// About `target` ticks covering [lo, hi] with a step of 1, 2 or 5 times a power of ten.
// `integer` forces steps >= 1 (an axis of optimizer steps).
Ticks nice_ticks(double lo, double hi, int target, bool integer = false);

// A tick label: as few decimals as the step needs; scientific for tiny or huge magnitudes
// ("2.5e-6"); "0" for zero.
std::string format_tick(double value, double step);

// True when some series has at least one finite point: only then is a chart worth drawing.
bool has_finite_points(const ChartSpec& spec);

// <svg class="chart" ...> with one <path class="series"> per series that has finite points.
std::string render_line_chart(const ChartSpec& spec);

}  // namespace dpo::report
