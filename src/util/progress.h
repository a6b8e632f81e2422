// The console progress line of a training run.
//
// On a terminal (stderr is a tty) one line is redrawn in place:
//   step 120/480 [=====>        ] 25% 01:02<03:06 1.93 it/s 812 tok/s step loss 0.5123 acc 0.812
//   margin 0.734
// Elsewhere (a log file, CI) nothing is redrawn: a plain line is printed at log points only.
// Messages printed through ProgressLine::message() clear the bar first and redraw it after, so
// log lines and the bar never mix. Pure C++ (no libtorch).
#pragma once
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace dpo {

struct ProgressField {
  std::string name;  // short label, e.g. "loss", "acc", "margin"
  double value = 0;
  int precision = 4;  // significant digits
};

struct ProgressStatus {
  int64_t step = 0;            // optimizer steps done
  int64_t total_steps = 0;     // of the whole run (0: unknown)
  int64_t first_step = 0;      // step this process started from (resume), for it/s and the ETA
  double elapsed_seconds = 0;  // since this process started training
  std::optional<double> tokens_per_second;  // recent throughput
  std::vector<ProgressField> fields;        // loss, reward accuracy, margin, ...
};

// "mm:ss" or "h:mm:ss".
std::string format_clock(double seconds);

// Steps per second since first_step, and the ETA in seconds (nullopt when unknown).
double steps_per_second(const ProgressStatus& status);
std::optional<double> eta_seconds(const ProgressStatus& status);

// The bar line (no newline), at most `width` columns.
std::string format_progress_bar(const ProgressStatus& status, int width);
// The plain line for non-terminals: "step 120/480 (25%) elapsed 01:02 eta 03:06 1.93 it/s ...".
std::string format_progress_plain(const ProgressStatus& status);

class ProgressLine {
 public:
  // `interactive`: nullopt = isatty(fileno(out)). `width`: nullopt = the terminal's width.
  explicit ProgressLine(std::FILE* out = stderr, std::optional<bool> interactive = std::nullopt,
                        std::optional<int> width = std::nullopt);
  ~ProgressLine();

  // Terminal: redraw the bar (at most ~10 times a second, always when `log_point` is true).
  // Otherwise: print the plain line when `log_point` is true, nothing else.
  void update(const ProgressStatus& status, bool log_point = false);
  // Prints `text` on its own line(s) without breaking the bar.
  void message(const std::string& text);
  // Ends the bar: the last drawn state stays on screen, the cursor moves to a new line.
  void finish();

  bool interactive() const { return interactive_; }

 private:
  void clear();
  void draw();
  int current_width() const;

  std::FILE* out_;
  bool interactive_;
  std::optional<int> width_;
  bool bar_visible_ = false;
  std::string last_bar_;
  std::optional<ProgressStatus> last_status_;
  double last_draw_time_ = -1;
};

}  // namespace dpo
