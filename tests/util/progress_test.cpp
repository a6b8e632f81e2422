#include "util/progress.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace dpo {
namespace {

ProgressStatus status_at(int64_t step) {
  ProgressStatus s;
  s.step = step;
  s.total_steps = 480;
  s.elapsed_seconds = step / 2.0;  // 2 it/s
  s.tokens_per_second = 812.4;
  s.fields = {{"loss", 0.51234567}, {"acc", 0.8125, 3}, {"margin", 0.7342, 3}};
  return s;
}

// Captures what a ProgressLine writes.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() { std::fclose(file_); }
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    int c;
    while ((c = std::fgetc(file_)) != EOF) out.push_back(static_cast<char>(c));
    return out;
  }

 private:
  std::FILE* file_;
};

TEST(ProgressFormat, Clock) {
  EXPECT_EQ(format_clock(0), "00:00");
  EXPECT_EQ(format_clock(62.4), "01:02");
  EXPECT_EQ(format_clock(3 * 3600 + 5 * 60 + 9), "3:05:09");
  EXPECT_EQ(format_clock(-1), "--:--");
}

TEST(ProgressFormat, RatesAndEta) {
  ProgressStatus s = status_at(120);
  EXPECT_DOUBLE_EQ(steps_per_second(s), 2.0);
  EXPECT_DOUBLE_EQ(*eta_seconds(s), 180.0);
  s.first_step = 100;  // resumed at 100: 20 steps in 60 s
  EXPECT_DOUBLE_EQ(steps_per_second(s), 20.0 / 60.0);
  EXPECT_DOUBLE_EQ(*eta_seconds(s), 360 * 3.0);
  s.total_steps = 0;
  EXPECT_FALSE(eta_seconds(s).has_value());
  EXPECT_EQ(steps_per_second(status_at(0)), 0.0);
}

TEST(ProgressFormat, BarLine) {
  EXPECT_EQ(format_progress_bar(status_at(120), 200),
            "step 120/480 [=====>              ]  25% 01:00<03:00 2.00 it/s 812 tok/s loss 0.5123 "
            "acc 0.812 margin 0.734");
  EXPECT_EQ(format_progress_bar(status_at(480), 200).substr(0, 52),
            "step 480/480 [====================] 100% 04:00<00:00");
  EXPECT_EQ(format_progress_bar(status_at(120), 40).size(), 39u);  // never wraps the terminal
  ProgressStatus slow = status_at(3);
  slow.elapsed_seconds = 15;
  EXPECT_NE(format_progress_bar(slow, 200).find("5.00 s/it"), std::string::npos);
  ProgressStatus nan_loss = status_at(1);
  nan_loss.fields = {{"loss", std::nan("")}};
  EXPECT_NE(format_progress_bar(nan_loss, 200).find("loss nan"), std::string::npos);
}

TEST(ProgressFormat, PlainLine) {
  EXPECT_EQ(format_progress_plain(status_at(120)),
            "step 120/480 (25%) elapsed 01:00 eta 03:00 2.00 it/s 812 tok/s loss 0.5123 acc 0.812 "
            "margin 0.734");
  ProgressStatus unknown = status_at(7);
  unknown.total_steps = 0;
  unknown.tokens_per_second.reset();
  unknown.fields.clear();
  EXPECT_EQ(format_progress_plain(unknown), "step 7 elapsed 00:04 eta ? 2.00 it/s");
}

TEST(ProgressLine, NonTerminalPrintsOnlyAtLogPoints) {
  Capture out;
  {
    ProgressLine line(out.file(), /*interactive=*/false);
    line.update(status_at(1));
    line.update(status_at(2));
    line.update(status_at(10), /*log_point=*/true);
    line.message("{'loss': 0.5}");
  }
  EXPECT_EQ(out.text(),
            "step 10/480 (2%) elapsed 00:05 eta 03:55 2.00 it/s 812 tok/s loss 0.5123 acc 0.812 "
            "margin 0.734\n"
            "{'loss': 0.5}\n");
}

TEST(ProgressLine, TerminalRedrawsInPlaceAndKeepsMessagesApart) {
  Capture out;
  {
    ProgressLine line(out.file(), /*interactive=*/true, /*width=*/60);
    line.update(status_at(1));
    line.update(status_at(2));  // within 0.1 s: skipped
    line.update(status_at(3), /*log_point=*/true);
    line.message("eval: loss 0.4");
  }
  std::string text = out.text();
  std::string bar1 = format_progress_bar(status_at(1), 60),
              bar3 = format_progress_bar(status_at(3), 60);
  EXPECT_EQ(text, "\r\033[2K" + bar1 + "\r\033[2K" + bar3 + "\r\033[2Keval: loss 0.4\n\r\033[2K" +
                      bar3 + "\n");
  EXPECT_EQ(text.find('\n'),
            text.find("eval: loss 0.4") + 14);  // the bar itself never prints a newline
}

}  // namespace
}  // namespace dpo
