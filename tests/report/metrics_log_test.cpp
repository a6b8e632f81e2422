#include "report/metrics_log.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "report/test_dir.h"
#include "util/error.h"

namespace dpo::report {
namespace {

using testing::TestDir;

MetricsRow row(int64_t step, std::vector<std::pair<std::string, double>> values) {
  MetricsRow r;
  r.step = step;
  r.values = std::move(values);
  return r;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(MetricsRow, JsonKeepsOrderStepFirstAndNullForNonFinite) {
  MetricsRow r =
      row(20, {{"epoch", 0.5}, {"loss", 0.25}, {"rewards/margins", -1.5}, {"grad_norm", INFINITY}});
  EXPECT_EQ(metrics_row_to_json(r),
            R"({"step":20,"epoch":0.5,"loss":0.25,"rewards/margins":-1.5,"grad_norm":null})");
}

TEST(MetricsRow, GetAndSet) {
  MetricsRow r = row(1, {{"loss", 1.0}});
  EXPECT_EQ(r.get("loss"), 1.0);
  EXPECT_FALSE(r.has("eval_loss"));
  r.set("loss", 2.0);
  r.set("eval_loss", 3.0);
  ASSERT_EQ(r.values.size(), 2u);
  EXPECT_EQ(*r.get("loss"), 2.0);
  EXPECT_EQ(r.values[1].first, "eval_loss");
}

TEST(MetricsLog, WritesAndReadsBackExactly) {
  TestDir dir;
  {
    MetricsLog log(dir.path(), {});
    log.write(row(10, {{"epoch", 0.1}, {"loss", 0.6931471805599453}, {"learning_rate", 1e-6}}));
    log.write(
        row(10, {{"epoch", 0.1}, {"eval_loss", 0.7}, {"eval_rewards/accuracies", std::nan("")}}));
    log.write(row(
        20,
        {{"epoch", 0.2}, {"loss", 0.5}, {"tokens_per_second", 812.5}, {"elapsed_seconds", 64.25}}));
  }
  auto rows = read_metrics(dir.path() / "metrics.jsonl");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].step, 10);
  EXPECT_EQ(*rows[0].get("loss"), 0.6931471805599453);  // shortest round-trip doubles
  EXPECT_EQ(*rows[0].get("learning_rate"), 1e-6);
  EXPECT_TRUE(std::isnan(*rows[1].get("eval_rewards/accuracies")));
  EXPECT_EQ(rows[2].values.size(), 4u);
  EXPECT_EQ(rows[2].values[2].first, "tokens_per_second");
}

TEST(MetricsLog, FreshRunStartsEmptyResumeKeepsEarlierRows) {
  TestDir dir;
  fs::path path = dir.path() / "metrics.jsonl";
  write_text(
      path,
      "{\"step\":1,\"loss\":1}\n{\"step\":2,\"loss\":2}\n{\"step\":3,\"loss\":3}\n{\"step\":4,");
  {
    MetricsLogOptions resume;
    resume.resume_step = 2;
    MetricsLog log(dir.path(), resume);
    log.write(row(3, {{"loss", 3.5}}));
  }
  EXPECT_EQ(read_file(path),
            "{\"step\":1,\"loss\":1}\n{\"step\":2,\"loss\":2}\n{\"step\":3,\"loss\":3.5}\n");
  { MetricsLog fresh(dir.path(), {}); }
  EXPECT_EQ(read_file(path), "");
}

TEST(TruncateMetrics, KeepsLinesByteForByteUpToTheStep) {
  TestDir dir;
  fs::path path = dir.path() / "metrics.jsonl";
  const std::string kept =
      "{\"step\": 5, \"loss\": "
      "0.50000}\n\n{\"step\":10,\"loss\":0.4}\n{\"step\":10,\"eval_loss\":0.45}\n";
  write_text(path, kept + "{\"step\":15,\"loss\":0.3}\n{\"step\":20,\"loss\":0.2}\n");
  EXPECT_EQ(truncate_metrics_after(path, 10), 3u);
  EXPECT_EQ(read_file(path),
            "{\"step\": 5, \"loss\": "
            "0.50000}\n{\"step\":10,\"loss\":0.4}\n{\"step\":10,\"eval_loss\":0.45}\n");
  EXPECT_EQ(truncate_metrics_after(path, 100), 3u);  // nothing to drop: file unchanged
  EXPECT_EQ(truncate_metrics_after(path, 0), 0u);
  EXPECT_EQ(read_file(path), "");
  EXPECT_EQ(truncate_metrics_after(dir.path() / "absent.jsonl", 3), 0u);
  EXPECT_FALSE(fs::exists(dir.path() / "absent.jsonl"));
  // No temporary file is left behind.
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) files += entry.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST(TruncateMetrics, MalformedCompleteLineIsAnError) {
  TestDir dir;
  fs::path path = dir.path() / "metrics.jsonl";
  write_text(path, "{\"step\":1}\nnot json\n{\"step\":3}\n");
  EXPECT_NE(
      error_of([&] { truncate_metrics_after(path, 1); }).find("metrics.jsonl:2: not valid JSON"),
      std::string::npos);
}

TEST(ReadMetrics, ErrorsNameFileAndLine) {
  TestDir dir;
  fs::path path = dir.path() / "metrics.jsonl";
  auto error_for = [&](const std::string& text) {
    write_text(path, text);
    return error_of([&] { read_metrics(path); });
  };
  const std::string where = path.string() + ":2: ";
  EXPECT_EQ(error_for("{\"step\":1}\n{\"step\":2,\n").rfind(where + "not valid JSON", 0), 0u);
  EXPECT_EQ(error_for("{\"step\":1}\n[1,2]\n"),
            where + "expected a JSON object {\"step\": N, ...}, got array");
  EXPECT_EQ(error_for("{\"step\":1}\n{\"loss\":1}\n"), where + "missing \"step\"");
  EXPECT_EQ(error_for("{\"step\":1}\n{\"step\":1.5}\n"),
            where + "\"step\" must be an integer >= 0, got 1.5");
  EXPECT_EQ(error_for("{\"step\":1}\n{\"step\":-1}\n"),
            where + "\"step\" must be an integer >= 0, got -1");
  EXPECT_EQ(error_for("{\"step\":1}\n{\"step\":2,\"loss\":\"low\"}\n"),
            where + "\"loss\" must be a number or null, got string");
  // a number beyond double's range (found by report_metrics_fuzz: it escaped as out_of_range)
  EXPECT_EQ(error_for("{\"step\":1}\n{\"step\":2,\"loss\":1e99999}\n"),
            where +
                "not valid JSON ([json.exception.out_of_range.406] number overflow parsing "
                "'1e99999')");
  const fs::path found =
      fs::path(DPO_SOURCE_DIR) / "tests/report/fuzz_regressions" / "metrics_number_overflow.jsonl";
  EXPECT_NE(error_of([&] { read_metrics(found); }).find("number overflow"), std::string::npos);
  EXPECT_EQ(error_of([&] { read_metrics(dir.path() / "nope.jsonl"); }),
            (dir.path() / "nope.jsonl").string() + ": not found");
}

TEST(ReadMetrics, SkipsBlankLinesAndCountsThem) {
  TestDir dir;
  fs::path path = dir.path() / "metrics.jsonl";
  write_text(path, "\n{\"step\":1}\n  \n{\"step\":2}");
  auto rows = read_metrics(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].step, 2);
  write_text(path, "\n\n{\"step\":x}\n");
  EXPECT_NE(error_of([&] { read_metrics(path); }).find("metrics.jsonl:3:"), std::string::npos);
}

TEST(MetricsRow, ConsoleLineLikeHf) {
  MetricsRow r = row(10, {{"loss", 0.69314718},
                          {"grad_norm", NAN},
                          {"learning_rate", 1e-6},
                          {"rewards/margins", -12.5},
                          {"epoch", 0.05}});
  EXPECT_EQ(format_log_line(r),
            "{'loss': 0.6931, 'grad_norm': nan, 'learning_rate': 1e-06, 'rewards/margins': -12.5, "
            "'epoch': 0.05}");
  EXPECT_EQ(format_log_line(row(1, {})), "{}");
}

TEST(MetricNames, TimingKeysAndTensorBoardTags) {
  for (const char* key : {"elapsed_seconds", "tokens_per_second", "eval_runtime",
                          "eval_samples_per_second", "train_runtime"})
    EXPECT_TRUE(is_timing_key(key)) << key;
  for (const char* key : {"loss", "eval_loss", "rewards/accuracies", "epoch", "learning_rate"})
    EXPECT_FALSE(is_timing_key(key)) << key;
  EXPECT_EQ(tensorboard_tag("eval_rewards/margins"), "eval/rewards/margins");
  EXPECT_EQ(tensorboard_tag("loss"), "train/loss");
  EXPECT_EQ(tensorboard_tag("epoch"), "train/epoch");
}

}  // namespace
}  // namespace dpo::report
