#include "util/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace dpo {
namespace {

constexpr double kMinRedrawSeconds = 0.1;
constexpr int kDefaultWidth = 100;
constexpr int kBarCells = 20;

double monotonic_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string format_field(const ProgressField& field) {
  if (!std::isfinite(field.value)) return field.name + " nan";
  return fmt::format("{} {:.{}g}", field.name, field.value, std::max(1, field.precision));
}

std::string format_rate(double value) {
  if (value >= 100) return fmt::format("{:.0f}", value);
  if (value >= 10) return fmt::format("{:.1f}", value);
  return fmt::format("{:.2f}", value);
}

// "1.93 it/s", or "5.2 s/it" when a step takes longer than a second (as tqdm does).
std::string format_speed(double steps_per_second) {
  if (steps_per_second <= 0) return "? it/s";
  if (steps_per_second < 1) return format_rate(1 / steps_per_second) + " s/it";
  return format_rate(steps_per_second) + " it/s";
}

std::string metrics_text(const ProgressStatus& status) {
  std::string out;
  if (status.tokens_per_second) out += " " + format_rate(*status.tokens_per_second) + " tok/s";
  for (const auto& field : status.fields) out += " " + format_field(field);
  return out;
}

std::string step_text(const ProgressStatus& status) {
  if (status.total_steps > 0) return fmt::format("step {}/{}", status.step, status.total_steps);
  return fmt::format("step {}", status.step);
}

}  // namespace

std::string format_clock(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto total = static_cast<long long>(std::llround(seconds));
  if (total >= 3600)
    return fmt::format("{}:{:02}:{:02}", total / 3600, (total / 60) % 60, total % 60);
  return fmt::format("{:02}:{:02}", total / 60, total % 60);
}

double steps_per_second(const ProgressStatus& status) {
  int64_t done = status.step - status.first_step;
  if (done <= 0 || status.elapsed_seconds <= 0) return 0;
  return static_cast<double>(done) / status.elapsed_seconds;
}

std::optional<double> eta_seconds(const ProgressStatus& status) {
  double rate = steps_per_second(status);
  if (status.total_steps <= 0 || rate <= 0) return std::nullopt;
  return static_cast<double>(std::max<int64_t>(0, status.total_steps - status.step)) / rate;
}

std::string format_progress_bar(const ProgressStatus& status, int width) {
  std::string head = step_text(status);
  if (status.total_steps > 0) {
    double fraction = std::clamp(
        static_cast<double>(status.step) / static_cast<double>(status.total_steps), 0.0, 1.0);
    int filled = static_cast<int>(fraction * kBarCells);
    std::string bar(static_cast<size_t>(filled), '=');
    if (filled < kBarCells) bar += '>';
    bar.resize(kBarCells, ' ');
    head += fmt::format(" [{}] {:3.0f}%", bar, fraction * 100);
  }
  auto eta = eta_seconds(status);
  head += fmt::format(" {}<{} {}", format_clock(status.elapsed_seconds),
                      eta ? format_clock(*eta) : "?", format_speed(steps_per_second(status)));
  std::string line = head + metrics_text(status);
  if (width > 1 && static_cast<int>(line.size()) > width - 1)
    line.resize(static_cast<size_t>(width - 1));
  return line;
}

std::string format_progress_plain(const ProgressStatus& status) {
  std::string line = step_text(status);
  if (status.total_steps > 0)
    line += fmt::format(" ({:.0f}%)", 100.0 * static_cast<double>(status.step) /
                                          static_cast<double>(status.total_steps));
  auto eta = eta_seconds(status);
  line += fmt::format(" elapsed {} eta {} {}", format_clock(status.elapsed_seconds),
                      eta ? format_clock(*eta) : "?", format_speed(steps_per_second(status)));
  return line + metrics_text(status);
}

ProgressLine::ProgressLine(std::FILE* out, std::optional<bool> interactive,
                           std::optional<int> width)
    : out_(out),
      interactive_(interactive ? *interactive : ::isatty(::fileno(out)) != 0),
      width_(width) {}

ProgressLine::~ProgressLine() {
  finish();
}

int ProgressLine::current_width() const {
  if (width_) return *width_;
  struct winsize size {};
  if (::ioctl(::fileno(out_), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return kDefaultWidth;
}

void ProgressLine::update(const ProgressStatus& status, bool log_point) {
  last_status_ = status;
  if (!interactive_) {
    if (log_point) {
      std::fprintf(out_, "%s\n", format_progress_plain(status).c_str());
      std::fflush(out_);
    }
    return;
  }
  double now = monotonic_seconds();
  bool last_step = status.total_steps > 0 && status.step >= status.total_steps;
  if (!log_point && !last_step && last_draw_time_ >= 0 && now - last_draw_time_ < kMinRedrawSeconds)
    return;
  last_draw_time_ = now;
  last_bar_ = format_progress_bar(status, current_width());
  draw();
}

void ProgressLine::message(const std::string& text) {
  if (interactive_) clear();
  std::fprintf(out_, "%s\n", text.c_str());
  if (interactive_ && !last_bar_.empty()) draw();
  std::fflush(out_);
}

void ProgressLine::finish() {
  if (interactive_ && bar_visible_) {
    std::fprintf(out_, "\n");
    std::fflush(out_);
  }
  bar_visible_ = false;
  last_bar_.clear();
}

void ProgressLine::clear() {
  if (!bar_visible_) return;
  std::fprintf(out_, "\r\033[2K");  // carriage return + erase the whole line
  bar_visible_ = false;
}

void ProgressLine::draw() {
  std::fprintf(out_, "\r\033[2K%s", last_bar_.c_str());
  std::fflush(out_);
  bar_visible_ = true;
}

}  // namespace dpo
