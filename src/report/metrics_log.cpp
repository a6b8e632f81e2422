#include "report/metrics_log.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "report/tensorboard.h"
#include "util/error.h"
#include "util/json.h"
#include "util/json_depth.h"
#include "util/strings.h"

namespace dpo::report {

using ordered_json = nlohmann::ordered_json;

std::optional<double> MetricsRow::get(const std::string& name) const {
  for (const auto& [key, value] : values)
    if (key == name) return value;
  return std::nullopt;
}

void MetricsRow::set(const std::string& name, double value) {
  for (auto& [key, old] : values) {
    if (key == name) {
      old = value;
      return;
    }
  }
  values.emplace_back(name, value);
}

std::string metrics_row_to_json(const MetricsRow& row) {
  ordered_json object = ordered_json::object();
  object["step"] = row.step;
  for (const auto& [key, value] : row.values) {
    DPO_CHECK(key != "step", "metrics row at step {}: 'step' given as a metric", row.step);
    if (std::isfinite(value))
      object[key] = value;
    else
      object[key] = nullptr;
  }
  return object.dump();
}

MetricsRow parse_metrics_line(std::string_view line, const std::string& where) {
  ordered_json object = parse_ordered_json(line, where);
  if (!object.is_object())
    throw_user_error("{}: expected a JSON object {{\"step\": N, ...}}, got {}", where,
                     object.type_name());
  MetricsRow row;
  bool has_step = false;
  for (const auto& [key, value] : object.items()) {
    if (key == "step") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0)
        throw_user_error("{}: \"step\" must be an integer >= 0, got {}", where, value.dump());
      row.step = value.get<int64_t>();
      has_step = true;
    } else if (value.is_number()) {
      row.values.emplace_back(key, value.get<double>());
    } else if (value.is_null()) {
      row.values.emplace_back(key, std::numeric_limits<double>::quiet_NaN());
    } else {
      throw_user_error("{}: \"{}\" must be a number or null, got {}", where, key,
                       value.type_name());
    }
  }
  if (!has_step) throw_user_error("{}: missing \"step\"", where);
  return row;
}

namespace {

// Calls fn(line_number, line, complete) for each line; `complete` is false for a last line that
// has no newline.
template <typename Fn>
void for_each_line(const std::string& text, Fn fn) {
  size_t start = 0;
  for (size_t number = 1; start < text.size(); ++number) {
    size_t end = text.find('\n', start);
    bool complete = end != std::string::npos;
    if (!complete) end = text.size();
    fn(number, std::string_view(text).substr(start, end - start), complete);
    start = end + 1;
  }
}

bool is_blank(std::string_view line) {
  return trim(line).empty();
}

}  // namespace

std::vector<MetricsRow> parse_metrics_text(const std::string& text, const std::string& name) {
  std::vector<MetricsRow> rows;
  for_each_line(text, [&](size_t number, std::string_view line, bool) {
    if (is_blank(line)) return;
    rows.push_back(parse_metrics_line(line, fmt::format("{}:{}", name, number)));
  });
  return rows;
}

std::vector<MetricsRow> read_metrics(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_user_error("{}: not found", path.string());
  return parse_metrics_text(read_file(path), path.string());
}

size_t truncate_metrics_after(const fs::path& path, int64_t last_step) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return 0;
  std::string text = read_file(path);
  std::string kept;
  size_t rows = 0;
  for_each_line(text, [&](size_t number, std::string_view line, bool complete) {
    if (!complete || is_blank(line)) return;  // a torn last line is what the kill interrupted
    MetricsRow row = parse_metrics_line(line, fmt::format("{}:{}", path.string(), number));
    if (row.step > last_step) return;
    kept.append(line);
    kept.push_back('\n');
    ++rows;
  });
  if (kept != text) write_file_atomic(path, kept);
  return rows;
}

std::string format_log_line(const MetricsRow& row) {
  std::string out = "{";
  for (const auto& [key, value] : row.values) {
    if (out.size() > 1) out += ", ";
    std::string number = std::isnan(value)   ? "nan"
                         : std::isinf(value) ? (value > 0 ? "inf" : "-inf")
                                             : fmt::format("{:.4g}", value);
    out += fmt::format("'{}': {}", key, number);
  }
  return out + "}";
}

bool is_timing_key(const std::string& name) {
  return name == "elapsed_seconds" || name == "tokens_per_second" || ends_with(name, "_runtime") ||
         ends_with(name, "_per_second");
}

std::string tensorboard_tag(const std::string& name) {
  if (starts_with(name, "eval_")) return "eval/" + name.substr(5);
  return "train/" + name;
}

MetricsLog::MetricsLog(const fs::path& output_dir, const MetricsLogOptions& options)
    : path_(output_dir / kMetricsFileName) {
  ensure_directory(output_dir);
  std::error_code ec;
  if (options.resume_step)
    truncate_metrics_after(path_, *options.resume_step);
  else if (fs::exists(path_, ec))
    write_file_atomic(path_, "");
  if (options.tensorboard) {
    tensorboard_ = std::make_unique<TensorBoardWriter>(output_dir);
    tensorboard_->add_session_start(options.resume_step ? *options.resume_step + 1 : 0);
  }
}

MetricsLog::~MetricsLog() = default;

void MetricsLog::write(const MetricsRow& row) {
  append_line(path_, metrics_row_to_json(row));
  if (!tensorboard_) return;
  std::vector<ScalarValue> scalars;
  for (const auto& [key, value] : row.values)
    if (std::isfinite(value)) scalars.push_back({tensorboard_tag(key), static_cast<float>(value)});
  if (!scalars.empty()) tensorboard_->add_scalars(row.step, scalars);
}

fs::path MetricsLog::tensorboard_path() const {
  return tensorboard_ ? tensorboard_->path() : fs::path();
}

}  // namespace dpo::report
