#include "report/html_report.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "report/run_charts.h"
#include "report/test_dir.h"
#include "util/error.h"

namespace dpo::report {
namespace {

using testing::TestDir;

const fs::path kFixtures = fs::path(DPO_FIXTURES) / "report";

// Copies a fixture run folder so the report is written outside the source tree.
fs::path copy_run(const std::string& name, const fs::path& into) {
  fs::path dst = into / name;
  fs::copy(kFixtures / name, dst, fs::copy_options::recursive);
  return dst;
}

// The value of the attribute that starts right after `marker` in `text` at or after `from`
// (up to the closing quote), and where it ends; npos when absent.
std::pair<std::string, size_t> attribute_after(const std::string& text, const std::string& marker,
                                               size_t from, size_t until) {
  size_t at = text.find(marker, from);
  if (at == std::string::npos || at >= until) return {"", std::string::npos};
  at += marker.size();
  size_t end = text.find('"', at);
  return {text.substr(at, end - at), end};
}

// id -> the d attributes of its series paths. Plain string search: std::regex recurses per
// character and overflows the stack on a whole report under AddressSanitizer.
std::map<std::string, std::vector<std::string>> chart_paths(const std::string& html) {
  std::map<std::string, std::vector<std::string>> out;
  const std::string svg_marker = "<svg class=\"chart\" id=\"";
  for (size_t at = html.find(svg_marker); at != std::string::npos;
       at = html.find(svg_marker, at + 1)) {
    const size_t end = html.find("</svg>", at);
    auto [id, after_id] = attribute_after(html, svg_marker, at, end);
    auto& paths = out[id];
    for (auto [d, next] = attribute_after(html, "<path class=\"series\" d=\"", after_id, end);
         next != std::string::npos;
         std::tie(d, next) = attribute_after(html, "<path class=\"series\" d=\"", next, end))
      paths.push_back(d);
  }
  return out;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(HtmlReport, DpoRunHasEveryChartWithNonEmptyPaths) {
  TestDir dir;
  fs::path run = copy_run("dpo_run", dir.path());
  fs::path out = write_report(run);
  EXPECT_EQ(out, run / "report.html");
  std::string html = read_file(out);
  auto charts = chart_paths(html);
  // chart id -> number of series (train + eval twins where eval exists in the fixture).
  std::map<std::string, size_t> expected = {
      {"chart-loss", 2},          {"chart-rewards", 4},
      {"chart-margins", 2},       {"chart-accuracies", 2},
      {"chart-logps", 4},         {"chart-learning-rate", 1},
      {"chart-grad-norm", 1},     {"chart-tokens-per-second", 1},
      {"chart-logits-chosen", 2}, {"chart-logits-rejected", 2}};
  EXPECT_EQ(charts.size(), expected.size());
  for (const auto& [id, series] : expected) {
    ASSERT_TRUE(charts.count(id)) << id;
    EXPECT_EQ(charts[id].size(), series) << id;
    for (const auto& d : charts[id]) EXPECT_EQ(d.rfind("M", 0), 0u) << id << ": " << d;
  }
  EXPECT_NE(html.find("data-expected-charts=\"10\""), std::string::npos);
  // Timing and summary keys are not charted; their eval twins neither.
  EXPECT_EQ(html.find("id=\"chart-eval-runtime\""), std::string::npos);
  EXPECT_EQ(html.find("id=\"chart-epoch\""), std::string::npos);
}

TEST(HtmlReport, IsSelfContained) {
  TestDir dir;
  std::string html = read_file(write_report(copy_run("dpo_run", dir.path())));
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const char* external : {"http://", "https://", "<link", "src=", "@import", "url("})
    EXPECT_EQ(html.find(external), std::string::npos) << external;
  EXPECT_NE(html.find("<style>"), std::string::npos);
  EXPECT_NE(html.find("data-chart-check"), std::string::npos);
}

TEST(HtmlReport, SummaryFromConfigAndMetrics) {
  TestDir dir;
  std::string html = read_file(write_report(copy_run("dpo_run", dir.path())));
  EXPECT_NE(html.find("preference optimization (DPO family)"), std::string::npos);
  EXPECT_NE(html.find("<code>models/tiny-llama &lt;chat&gt;</code>"),
            std::string::npos);  // escaped
  EXPECT_NE(html.find("<code>data/capitals_pairs.jsonl</code>"), std::string::npos);
  EXPECT_NE(html.find("<code>[sigmoid]</code>"), std::string::npos);
  EXPECT_NE(html.find("<code>[q_proj, v_proj]</code>"), std::string::npos);
  EXPECT_NE(html.find("<code>runs/capitals</code>"),
            std::string::npos);  // unquoted, comment dropped
  EXPECT_NE(html.find("<tr><th>last step</th><td>48</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>duration</th><td>1m 34s</td></tr>"),
            std::string::npos);  // 1.9 * 48 + 3.2 s
  EXPECT_NE(html.find("<tr><th>tokens / s</th><td>8"), std::string::npos);
  EXPECT_EQ(html.find("tokenizer_name_or_path</th>"), html.find("tokenizer_name_or_path</th>"));
}

TEST(HtmlReport, GenerationsSideBySideAndEscaped) {
  TestDir dir;
  std::string html = read_file(write_report(copy_run("dpo_run", dir.path())));
  EXPECT_NE(html.find("<tr><th>prompt</th><th>before</th><th>after</th></tr>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td class=\"prompt\">The capital of Ireland is</td><td> Cork, a "
                      "&lt;city&gt; &amp; port.</td>"
                      "<td> Dublin.</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<td> Sydney.\n&quot;Really?&quot;</td>"), std::string::npos);
  // The prompt that has no "after" answer.
  EXPECT_NE(
      html.find(
          "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 2 &lt; 3?</td><td> yes &amp; no</td>"
          "<td class=\"missing-answer\">"),
      std::string::npos);
  // Only the report's own script tag exists.
  EXPECT_EQ(html.find("<script>"), html.rfind("<script>"));
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
}

TEST(HtmlReport, SftRunShowsSftChartsAndSaysWhyNoRewards) {
  TestDir dir;
  std::string html = read_file(write_report(copy_run("sft_run", dir.path())));
  auto charts = chart_paths(html);
  for (const char* id :
       {"chart-loss", "chart-token-accuracy", "chart-entropy", "chart-learning-rate",
        "chart-grad-norm", "chart-tokens-per-second", "chart-num-tokens"})
    EXPECT_TRUE(charts.count(id)) << id;
  EXPECT_EQ(charts.size(), 7u);
  EXPECT_EQ(charts["chart-token-accuracy"].size(), 2u);  // train + eval
  EXPECT_FALSE(charts.count("chart-rewards"));
  EXPECT_NE(html.find("An SFT run: no preference metrics"), std::string::npos);
  EXPECT_NE(html.find("supervised fine-tuning (SFT)"), std::string::npos);
  EXPECT_NE(html.find("No generations.jsonl"), std::string::npos);
}

TEST(HtmlReport, MissingMetricsGetANoteInsteadOfAChart) {
  TestDir dir;
  std::ofstream(dir.path() / "metrics.jsonl")
      << "{\"step\":1,\"loss\":0.69,\"rewards/chosen\":0.1,\"rewards/rejected\":0}\n"
         "{\"step\":2,\"loss\":null,\"rewards/chosen\":0.2,\"rewards/rejected\":-0.1}\n";
  std::string html = read_file(write_report(dir.path()));
  auto charts = chart_paths(html);
  EXPECT_TRUE(charts.count("chart-loss"));  // one finite value: a marker and a one-point path
  EXPECT_TRUE(charts.count("chart-rewards"));
  EXPECT_FALSE(charts.count("chart-margins"));
  EXPECT_NE(html.find("Not drawn: metrics.jsonl has no finite values of rewards/margins, "
                      "eval_rewards/margins."),
            std::string::npos);
  EXPECT_NE(html.find("Not drawn: metrics.jsonl has no finite values of grad_norm."),
            std::string::npos);
  EXPECT_NE(html.find("config.yaml not found"), std::string::npos);
  EXPECT_NE(
      html.find(std::string("data-expected-charts=\"") + std::to_string(charts.size()) + "\""),
      std::string::npos);
}

TEST(HtmlReport, EmptyMetricsStillRenders) {
  TestDir dir;
  std::ofstream(dir.path() / "metrics.jsonl") << "";
  std::string html = read_file(write_report(dir.path()));
  EXPECT_NE(html.find("metrics.jsonl is empty"), std::string::npos);
  EXPECT_NE(html.find("data-expected-charts=\"0\""), std::string::npos);
}

// Found by report_metrics_fuzz: a metric whose values differ by less than double's precision at
// their magnitude made the axis ticks loop forever. The report must come back, charts included.
TEST(HtmlReport, MetricsFromTheFuzzerRenderWithoutHanging) {
  auto run_with = [](const TestDir& dir, const char* name) {
    fs::path run = dir.path() / name;  // a run folder per input
    fs::create_directories(run);
    fs::copy_file(fs::path(DPO_SOURCE_DIR) / "tests/report/fuzz_regressions" / name,
                  run / "metrics.jsonl");
    return run;
  };
  TestDir dir;
  const std::string html = read_file(write_report(run_with(dir, "metrics_tick_hang.jsonl")));
  EXPECT_NE(html.find("<svg class=\"chart\""), std::string::npos);
  // 1e2325519 in a line: refused with its place (it escaped as out_of_range before)
  EXPECT_NE(
      error_of([&] {
        write_report(run_with(dir, "metrics_number_overflow.jsonl"));
      }).find("metrics.jsonl:2: not valid JSON ([json.exception.out_of_range.406] number overflow"),
      std::string::npos);
}

TEST(HtmlReport, UserErrors) {
  TestDir dir;
  EXPECT_EQ(error_of([&] { write_report(dir.path() / "nope"); }),
            (dir.path() / "nope").string() + ": no such run folder");
  std::ofstream(dir.path() / "file") << "x";
  EXPECT_EQ(error_of([&] { write_report(dir.path() / "file"); }),
            (dir.path() / "file").string() + ": not a directory (expected a run folder)");
  EXPECT_EQ(error_of([&] { write_report(dir.path()); }),
            (dir.path() / "metrics.jsonl").string() +
                ": not found; a run folder written by `dpo train` or `dpo sft` has one");
  std::ofstream(dir.path() / "metrics.jsonl") << "{\"step\":1}\n{\"step\":2,\"loss\":}\n";
  EXPECT_EQ(error_of([&] {
              write_report(dir.path());
            }).rfind((dir.path() / "metrics.jsonl").string() + ":2: not valid JSON", 0),
            0u);
  std::ofstream(dir.path() / "metrics.jsonl") << "{\"step\":1}\n";
  std::ofstream(dir.path() / "generations.jsonl") << "{\"phase\":\"before\"}\n";
  EXPECT_EQ(error_of([&] { write_report(dir.path()); }),
            (dir.path() / "generations.jsonl").string() + ":1: missing \"prompt\"");
  EXPECT_FALSE(fs::exists(dir.path() / "report.html"));
}

TEST(RunCharts, KindDetection) {
  MetricsRow dpo;
  dpo.values = {{"eval_rewards/margins", 0.1}};
  MetricsRow sft;
  sft.values = {{"loss", 1.0}, {"mean_token_accuracy", 0.5}};
  EXPECT_EQ(detect_run_kind({sft, dpo}), RunKind::kPreference);
  EXPECT_EQ(detect_run_kind({sft}), RunKind::kSft);
  EXPECT_EQ(detect_run_kind({}), RunKind::kSft);
  MetricsRow cpo;  // CPOTrainer / ORPOTrainer: nll_loss, no entropy
  cpo.values = {{"rewards/chosen", -2.0}, {"nll_loss", 1.5}};
  EXPECT_EQ(detect_run_kind({cpo}), RunKind::kReferenceFree);
  MetricsRow rpo = cpo;  // DPO with rpo_alpha logs nll_loss and entropy
  rpo.values.push_back({"entropy", 9.0});
  EXPECT_EQ(detect_run_kind({rpo}), RunKind::kPreference);
  MetricsRow kto;
  kto.values = {{"rewards/chosen", 0.1}, {"kl", 0.0}, {"entropy", 9.0}};
  EXPECT_EQ(detect_run_kind({kto}), RunKind::kKto);
}

}  // namespace
}  // namespace dpo::report
