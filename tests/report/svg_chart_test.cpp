#include "report/svg_chart.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <utility>

namespace dpo::report {
namespace {

std::vector<std::string> path_data(const std::string& svg) {
  std::vector<std::string> out;
  std::regex re("<path class=\"series\" d=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1]);
  return out;
}

TEST(NiceTicks, OneTwoFiveSteps) {
  Ticks t = nice_ticks(0.03, 0.97, 6);
  EXPECT_DOUBLE_EQ(t.step, 0.2);
  EXPECT_DOUBLE_EQ(t.lo, 0.0);
  EXPECT_DOUBLE_EQ(t.hi, 1.0);
  EXPECT_EQ(t.values.size(), 6u);
  t = nice_ticks(2, 48, 8, true);
  EXPECT_DOUBLE_EQ(t.step, 5);
  EXPECT_DOUBLE_EQ(t.lo, 0);
  EXPECT_DOUBLE_EQ(t.hi, 50);
  t = nice_ticks(-44.7, -30.2, 6);
  EXPECT_DOUBLE_EQ(t.step, 2);
  EXPECT_DOUBLE_EQ(t.lo, -46);
  EXPECT_DOUBLE_EQ(t.hi, -30);
  t = nice_ticks(1e-6, 5e-6, 6);
  EXPECT_NEAR(t.step, 5e-7, 1e-18);
}

TEST(NiceTicks, FlatAndTinyRanges) {
  Ticks flat = nice_ticks(5e-6, 5e-6, 6);  // constant learning rate
  EXPECT_LT(flat.lo, 5e-6);
  EXPECT_GT(flat.hi, 5e-6);
  Ticks zero = nice_ticks(0, 0, 6);
  EXPECT_LT(zero.lo, 0);
  EXPECT_GT(zero.hi, 0);
  Ticks one_step = nice_ticks(7, 7, 8, true);
  EXPECT_GE(one_step.step, 1);
  EXPECT_LT(one_step.lo, 7);
}

// Found by report_metrics_fuzz: metrics whose range is below double's precision at their magnitude
// made the tick loop spin forever (dpo report hung). Every range gives a few finite ticks.
TEST(NiceTicks, ExtremeRangesGiveAFewFiniteTicks) {
  const double big = 1e20;
  const std::pair<double, double> ranges[] = {{big, std::nextafter(big, 2 * big)},
                                              {-1.7e308, 1.7e308},
                                              {1.7e308, 1.7e308},
                                              {-1e-300, 1e-300},
                                              {5e-324, 1e-323},
                                              {0.1, 0.1 + 1e-16}};
  for (const auto& [lo, hi] : ranges) {
    for (bool integer : {false, true}) {
      Ticks t = nice_ticks(lo, hi, 6, integer);
      ASSERT_GE(t.values.size(), 2u) << lo << " " << hi;
      EXPECT_LE(t.values.size(), 25u) << lo << " " << hi;
      EXPECT_TRUE(std::isfinite(t.step) && t.step > 0) << lo << " " << hi;
      for (double v : t.values) EXPECT_TRUE(std::isfinite(v)) << lo << " " << hi;
      // the ends within the ticks (up to the 1e-9 step tolerance; clamped to 1/4 of double's max)
      EXPECT_LE(t.lo, std::max(lo, -1.7e308 / 4) + 1e-9 * t.step) << lo << " " << hi;
      EXPECT_GE(t.hi, std::min(hi, 1.7e308 / 4) - 1e-9 * t.step) << lo << " " << hi;
      (void)format_tick(t.values.front(), t.step);  // must not overflow an int conversion
    }
  }
}

TEST(FormatTick, DecimalsFollowTheStep) {
  EXPECT_EQ(format_tick(0.4, 0.2), "0.4");
  EXPECT_EQ(format_tick(-0.25, 0.05), "-0.25");
  EXPECT_EQ(format_tick(40, 10), "40");
  EXPECT_EQ(format_tick(0, 0.1), "0");
  EXPECT_EQ(format_tick(5.551115123125783e-17, 0.1), "0");  // float noise of 0.1 * 3 - 0.3
  EXPECT_EQ(format_tick(2.5e-6, 5e-7), "2.5e-6");
  EXPECT_EQ(format_tick(1e-6, 1e-6), "1e-6");
  EXPECT_EQ(format_tick(3e9, 1e9), "3e9");
  EXPECT_EQ(format_tick(450000, 50000), "450k");  // large counts stay short next to the axis
  EXPECT_EQ(format_tick(12500, 2500), "12.5k");
  EXPECT_EQ(format_tick(1.5e6, 5e5), "1.5M");
  EXPECT_EQ(format_tick(9000, 1000), "9000");
}

TEST(EscapeHtml, AllSpecialCharacters) {
  EXPECT_EQ(escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(LineChart, PathsAxesLegend) {
  ChartSpec spec;
  spec.id = "chart-test";
  spec.title = "Test <chart>";
  spec.y_label = "loss";
  spec.series.push_back({"train", {1, 2, 3}, {0.7, 0.5, 0.4}, "#0072B2", false});
  spec.series.push_back({"eval & more", {2}, {0.6}, "#E69F00", true});
  spec.reference_y = std::log(2.0);
  spec.reference_label = "ln 2";
  std::string svg = render_line_chart(spec);
  auto paths = path_data(svg);
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0].rfind("M", 0), 0u);
  EXPECT_EQ(std::count(paths[0].begin(), paths[0].end(), 'L'), 2);
  EXPECT_EQ(paths[1].rfind("M", 0), 0u);  // a single point still has a path (and a marker)
  EXPECT_NE(svg.find("<circle"), std::string::npos);
  EXPECT_NE(svg.find("id=\"chart-test\""), std::string::npos);
  EXPECT_NE(svg.find("<title>Test &lt;chart&gt;</title>"), std::string::npos);
  EXPECT_NE(svg.find(">eval &amp; more</text>"), std::string::npos);  // legend, escaped
  EXPECT_NE(svg.find(">ln 2</text>"), std::string::npos);
  EXPECT_NE(svg.find("stroke-dasharray=\"6 4\""), std::string::npos);  // the eval series
  EXPECT_NE(svg.find(">step</text>"), std::string::npos);
  EXPECT_NE(svg.find(">loss</text>"), std::string::npos);
  EXPECT_NE(svg.find("class=\"reference\""), std::string::npos);
}

TEST(LineChart, NanBreaksTheLineAndEmptySeriesAreLeftOut) {
  ChartSpec spec;
  spec.id = "c";
  spec.series.push_back({"gappy", {1, 2, 3, 4}, {1, NAN, 2, 3}, "#000", false});
  spec.series.push_back({"all nan", {1, 2}, {NAN, NAN}, "#111", false});
  EXPECT_TRUE(has_finite_points(spec));
  std::string svg = render_line_chart(spec);
  auto paths = path_data(svg);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(std::count(paths[0].begin(), paths[0].end(), 'M'), 2);
  EXPECT_EQ(svg.find("all nan"), std::string::npos);
  ChartSpec empty;
  empty.series.push_back({"none", {}, {}, "#000", false});
  EXPECT_FALSE(has_finite_points(empty));
}

TEST(LineChart, CoordinatesStayInsideTheCanvas) {
  ChartSpec spec;
  spec.id = "c";
  spec.series.push_back({"lr", {0, 1000}, {1e-6, 1e-6}, "#000", false});
  auto paths = path_data(render_line_chart(spec));
  ASSERT_EQ(paths.size(), 1u);
  std::regex number("-?[0-9]+(\\.[0-9]+)?");
  std::vector<double> values;
  for (auto it = std::sregex_iterator(paths[0].begin(), paths[0].end(), number);
       it != std::sregex_iterator(); ++it)
    values.push_back(std::stod(it->str()));
  ASSERT_EQ(values.size(), 4u);
  for (double v : values) {
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 640);
  }
  EXPECT_DOUBLE_EQ(values[1], values[3]);  // flat line
  EXPECT_LT(values[0], values[2]);
}

}  // namespace
}  // namespace dpo::report
