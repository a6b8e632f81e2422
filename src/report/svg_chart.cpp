#include "report/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace dpo::report {

namespace {

// Canvas (SVG user units; the page scales the SVG to its column width).
constexpr double kWidth = 640, kHeight = 340;
constexpr double kLeft = 70, kRight = 18, kBottom = 46;
constexpr double kFontSize = 13, kCharWidth = 7.2;  // average glyph width at kFontSize, for layout
constexpr size_t kMaxMarkers = 60;                  // draw point markers on short series only

double nice_step(double raw, bool integer) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double normalized = raw / magnitude;
  double step = (normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10) * magnitude;
  return integer ? std::max(1.0, std::round(step)) : step;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

bool is_finite_point(const ChartSeries& s, size_t i) {
  return std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
}

size_t finite_count(const ChartSeries& s) {
  size_t n = 0;
  for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) n += is_finite_point(s, i);
  return n;
}

// Maps data coordinates to SVG coordinates inside the plot area.
struct Frame {
  Ticks x, y;
  double left, top, right, bottom;
  double px(double v) const { return left + (v - x.lo) / (x.hi - x.lo) * (right - left); }
  double py(double v) const { return bottom - (v - y.lo) / (y.hi - y.lo) * (bottom - top); }
};

// Legend entries laid out in rows across the top; returns the markup and the height used.
std::string legend(const std::vector<const ChartSeries*>& drawn, const ChartSpec& spec,
                   double* height) {
  std::string out = "<g class=\"legend\">";
  double x = kLeft, y = 16;
  auto entry = [&](const std::string& label, const std::string& color, const char* dash) {
    double width = 30 + kCharWidth * static_cast<double>(label.size()) + 18;
    if (x + width > kWidth - kRight && x > kLeft) {
      x = kLeft;
      y += 18;
    }
    out += fmt::format(
        "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
        "stroke-width=\"2.5\"{}/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>",
        x, y - 4, x + 24, y - 4, color, dash, x + 30, y, escape_html(label));
    x += width;
  };
  for (const auto* s : drawn)
    entry(s->label, s->color, s->dashed ? " stroke-dasharray=\"6 4\"" : "");
  if (spec.reference_y && !spec.reference_label.empty())
    entry(spec.reference_label, "#888", " stroke-dasharray=\"2 3\"");
  out += "</g>";
  *height = y + 12;
  return out;
}

std::string series_path(const ChartSeries& s, const Frame& f) {
  std::string d;
  bool pen_down = false;
  for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
    if (!is_finite_point(s, i)) {
      pen_down = false;
      continue;
    }
    d += fmt::format("{}{:.1f} {:.1f}",
                     d.empty()  ? "M"
                     : pen_down ? " L"
                                : " M",
                     f.px(s.x[i]), f.py(s.y[i]));
    pen_down = true;
  }
  return d;
}

std::string series_markers(const ChartSeries& s, const Frame& f, double y_step) {
  std::string out;
  for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
    if (!is_finite_point(s, i)) continue;
    out += fmt::format(
        "<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{} at step {}: "
        "{}</title></circle>",
        f.px(s.x[i]), f.py(s.y[i]), s.color, escape_html(s.label), format_tick(s.x[i], 1),
        format_tick(s.y[i], y_step / 100));
  }
  return out;
}

std::string axes(const ChartSpec& spec, const Frame& f) {
  std::string out = "<g class=\"grid\">";
  for (double v : f.y.values)
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>", f.left,
                       f.py(v), f.right, f.py(v));
  for (double v : f.x.values)
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>", f.px(v),
                       f.top, f.px(v), f.bottom);
  out += "</g><g class=\"axis\">";
  out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\"/>", f.left,
                     f.bottom, f.right);
  out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>", f.left,
                     f.top, f.bottom);
  for (double v : f.y.values)
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", f.left - 6,
                       f.py(v) + 4, format_tick(v, f.y.step));
  for (double v : f.x.values)
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>", f.px(v),
                       f.bottom + 17, format_tick(v, f.x.step));
  out += fmt::format(
      "<text class=\"label\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>",
      (f.left + f.right) / 2, kHeight - 6, escape_html(spec.x_label));
  out += fmt::format(
      "<text class=\"label\" x=\"0\" y=\"0\" text-anchor=\"middle\" transform=\"translate(16 "
      "{:.1f}) rotate(-90)\">{}</text>",
      (f.top + f.bottom) / 2, escape_html(spec.y_label));
  return out + "</g>";
}

}  // namespace

Ticks nice_ticks(double lo, double hi, int target, bool integer) {
  constexpr double kLargest = std::numeric_limits<double>::max() / 4;  // hi - lo stays finite
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi < lo) std::swap(lo, hi);
  lo = std::clamp(lo, -kLargest, kLargest);
  hi = std::clamp(hi, -kLargest, kLargest);
  if (hi == lo) {  // a flat series: open a small window around the value
    double pad = integer ? 1 : (lo == 0 ? 1 : std::abs(lo) * 0.1);
    if (lo - pad == lo) pad = std::abs(lo) * 0.1;  // 1 vanishes next to 1e20
    lo -= pad;
    hi += pad;
  }
  Ticks ticks;
  ticks.step = nice_step((hi - lo) / std::max(1, target), integer);
  double first = std::floor(lo / ticks.step + 1e-9), last = std::ceil(hi / ticks.step - 1e-9);
  if (last <= first) last = first + 1;  // a range inside one integer step: two ticks
  // A range narrower than double's precision at its magnitude (1e20 to the next double) would
  // give tick indices where ++k no longer counts: the ends are the ticks then.
  constexpr double kExactIndices = 1e15;
  if (!(std::abs(first) < kExactIndices && std::abs(last) < kExactIndices &&
        last - first <= 4.0 * std::max(1, target))) {
    ticks.step = hi - lo;
    ticks.values = {lo, hi};
    ticks.lo = lo;
    ticks.hi = hi;
    return ticks;
  }
  for (double k = first; k <= last; ++k)
    ticks.values.push_back(k * ticks.step == 0 ? 0.0 : k * ticks.step);
  ticks.lo = ticks.values.front();
  ticks.hi = ticks.values.back();
  return ticks;
}

namespace {

// "2.5e-6": the mantissa with the decimals the step needs, trailing zeros trimmed.
std::string format_scientific(double value, double step) {
  int exponent = static_cast<int>(std::floor(std::log10(std::abs(value))));
  double mantissa = value / std::pow(10.0, exponent);
  int decimals = std::clamp(exponent - static_cast<int>(std::floor(std::log10(step))), 0, 4);
  std::string m = fmt::format("{:.{}f}", mantissa, decimals);
  if (m.find('.') != std::string::npos) {
    m.erase(m.find_last_not_of('0') + 1);
    if (m.back() == '.') m.pop_back();
  }
  if (m == "10" || m == "-10") {  // rounding carried into the next power
    m = m[0] == '-' ? "-1" : "1";
    ++exponent;
  }
  return fmt::format("{}e{}", m, exponent);
}

// The fewest decimals (up to 8) that write every multiple of `step` exactly: 0.2 -> 1, 2.5 -> 1.
int decimals_for(double step) {
  for (int decimals = 0; decimals < 8; ++decimals) {
    double scaled = step * std::pow(10.0, decimals);
    if (std::abs(scaled - std::round(scaled)) <= 1e-6 * scaled) return decimals;
  }
  return 8;
}

std::string format_fixed(double value, double step, const char* suffix = "") {
  return fmt::format("{:.{}f}{}", value, decimals_for(step), suffix);
}

}  // namespace

std::string format_tick(double value, double step) {
  if (!std::isfinite(value)) return "n/a";
  if (std::abs(value) < step * 1e-6 || value == 0) return "0";
  double magnitude = std::abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e9) return format_scientific(value, step);
  if (magnitude >= 1e6) return format_fixed(value / 1e6, step / 1e6, "M");  // 1.5M tokens
  if (magnitude >= 1e4) return format_fixed(value / 1e3, step / 1e3, "k");  // 450k
  return format_fixed(value, step);
}

bool has_finite_points(const ChartSpec& spec) {
  return std::any_of(spec.series.begin(), spec.series.end(),
                     [](const ChartSeries& s) { return finite_count(s) > 0; });
}

std::string render_line_chart(const ChartSpec& spec) {
  std::vector<const ChartSeries*> drawn;
  Range xs, ys;
  for (const auto& s : spec.series) {
    if (finite_count(s) == 0) continue;
    drawn.push_back(&s);
    for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!is_finite_point(s, i)) continue;
      xs.add(s.x[i]);
      ys.add(s.y[i]);
    }
  }
  if (spec.reference_y) ys.add(*spec.reference_y);
  if (spec.y_min) ys.add(*spec.y_min);
  if (spec.y_max) ys.add(*spec.y_max);
  if (xs.empty()) xs.add(0), xs.add(1);
  if (ys.empty()) ys.add(0), ys.add(1);

  double legend_height = 0;
  std::string legend_markup = legend(drawn, spec, &legend_height);
  Frame f{nice_ticks(xs.lo, xs.hi, 8, true),
          nice_ticks(ys.lo, ys.hi, 6),
          kLeft,
          legend_height + 8,
          kWidth - kRight,
          kHeight - kBottom};

  std::string out = fmt::format(
      "<svg class=\"chart\" id=\"{}\" viewBox=\"0 0 {:.0f} {:.0f}\" role=\"img\" "
      "font-size=\"{:.0f}\">"
      "<title>{}</title>",
      escape_html(spec.id), kWidth, kHeight, kFontSize, escape_html(spec.title));
  out += axes(spec, f);
  if (spec.reference_y)
    out += fmt::format(
        "<line class=\"reference\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" "
        "stroke=\"#888\" "
        "stroke-dasharray=\"2 3\"/>",
        f.left, f.py(*spec.reference_y), f.right);
  for (const auto* s : drawn) {
    out += fmt::format(
        "<path class=\"series\" d=\"{}\" fill=\"none\" stroke=\"{}\" "
        "stroke-width=\"2\"{}><title>{}</title></path>",
        series_path(*s, f), s->color, s->dashed ? " stroke-dasharray=\"6 4\"" : "",
        escape_html(s->label));
    if (finite_count(*s) <= kMaxMarkers) out += series_markers(*s, f, f.y.step);
  }
  out += legend_markup;
  return out + "</svg>";
}

}  // namespace dpo::report
