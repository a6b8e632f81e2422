// `dpo report` through the real binary (skipped when it has not been built).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "report/test_dir.h"
#include "util/fs.h"

namespace dpo::report {
namespace {

using testing::TestDir;

struct Result {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

Result run_dpo(const std::string& args) {
  std::string command = std::string(DPO_BINARY) + " " + args + " 2>&1";
  Result result;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class DpoReportCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(DPO_BINARY)) GTEST_SKIP() << DPO_BINARY << " not built (ninja dpo)";
  }
  TestDir dir_;
};

TEST_F(DpoReportCommand, WritesTheReport) {
  fs::path run = dir_.path() / "run";
  fs::copy(fs::path(DPO_FIXTURES) / "report" / "dpo_run", run, fs::copy_options::recursive);
  Result r = run_dpo("report '" + run.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "wrote " + (run / "report.html").string() + "\n");
  EXPECT_NE(read_file(run / "report.html").find("id=\"chart-rewards\""), std::string::npos);
}

TEST_F(DpoReportCommand, UserErrorsExitWithOne) {
  Result r = run_dpo("report");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("RUN_DIR is required"), std::string::npos) << r.output;

  r = run_dpo("report '" + (dir_.path() / "missing").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "error: " + (dir_.path() / "missing").string() + ": no such run folder\n");

  r = run_dpo("report '" + dir_.path().string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output,
            "error: " + (dir_.path() / "metrics.jsonl").string() +
                ": not found; a run folder written by `dpo train` or `dpo sft` has one\n");

  std::ofstream(dir_.path() / "metrics.jsonl")
      << "{\"step\":1,\"loss\":0.7}\n{\"step\":2,\"loss\":0.6\n";
  r = run_dpo("report '" + dir_.path().string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output.rfind(
                "error: " + (dir_.path() / "metrics.jsonl").string() + ":2: not valid JSON", 0),
            0u)
      << r.output;
}

TEST_F(DpoReportCommand, Help) {
  Result r = run_dpo("report --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("RUN_DIR"), std::string::npos);
}

}  // namespace
}  // namespace dpo::report
