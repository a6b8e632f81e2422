// Renders a report in headless Chromium through scripts/check-report.sh (skipped without Chromium).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include "report/html_report.h"
#include "report/test_dir.h"

namespace dpo::report {
namespace {

using testing::TestDir;

constexpr const char* kChromium = "/usr/bin/chromium";

int run_check(const fs::path& target, const fs::path& png, const fs::path& log) {
  std::string command = std::string(DPO_SOURCE_DIR) + "/scripts/check-report.sh '" +
                        target.string() + "' '" + png.string() + "' >'" + log.string() + "' 2>&1";
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(CheckReportScript, FixtureReportRendersWithEveryChart) {
  if (!fs::exists(kChromium))
    GTEST_SKIP() << kChromium << " not installed (Debian package chromium)";
  TestDir dir;
  fs::path run = dir.path() / "dpo_run";
  fs::copy(fs::path(DPO_FIXTURES) / "report" / "dpo_run", run, fs::copy_options::recursive);
  write_report(run);
  fs::path png = dir.path() / "report.png", log = dir.path() / "check.log";
  EXPECT_EQ(run_check(run, png, log), 0) << read_file(log);
  EXPECT_NE(read_file(log).find("check-report: OK: 10 charts"), std::string::npos)
      << read_file(log);
  EXPECT_GT(fs::file_size(png), 20000u);

  // A chart whose line lost its data must fail the check.
  std::string html = read_file(run / "report.html");
  size_t d = html.find("<path class=\"series\" d=\"");
  ASSERT_NE(d, std::string::npos);
  d += std::string("<path class=\"series\" d=\"").size();
  html.erase(d, html.find('"', d) - d);
  std::ofstream(dir.path() / "broken.html") << html;
  EXPECT_EQ(run_check(dir.path() / "broken.html", dir.path() / "broken.png", log), 1)
      << read_file(log);
  EXPECT_NE(read_file(log).find("chart-loss: empty or invalid path"), std::string::npos)
      << read_file(log);
}

}  // namespace
}  // namespace dpo::report
