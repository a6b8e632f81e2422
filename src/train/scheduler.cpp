// Schedules as transformers writes them (optimization.py): linear and cosine decay after a linear
// warmup, constant (no warmup at all, as get_constant_schedule), constant_with_warmup.
#include "train/scheduler.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_depth.h"

namespace dpo {

ScheduleType parse_schedule_type(const std::string& name) {
  if (name == "linear") return ScheduleType::kLinear;
  if (name == "constant") return ScheduleType::kConstant;
  if (name == "cosine") return ScheduleType::kCosine;
  if (name == "constant_with_warmup") return ScheduleType::kConstantWithWarmup;
  throw_user_error(
      "lr_scheduler_type must be one of linear, constant, cosine, "
      "constant_with_warmup, got '{}'",
      name);
}

std::string schedule_type_name(ScheduleType type) {
  switch (type) {
    case ScheduleType::kLinear:
      return "linear";
    case ScheduleType::kConstant:
      return "constant";
    case ScheduleType::kCosine:
      return "cosine";
    case ScheduleType::kConstantWithWarmup:
      return "constant_with_warmup";
  }
  return "linear";
}

int64_t warmup_steps_for(double warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps >= 1) return static_cast<int64_t>(warmup_steps);
  if (warmup_steps > 0)
    return static_cast<int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_steps));
  return static_cast<int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_ratio));
}

LrSchedule::LrSchedule(ScheduleType type, double base_lr, int64_t warmup_steps, int64_t total_steps)
    : type_(type), base_lr_(base_lr), warmup_steps_(warmup_steps), total_steps_(total_steps) {}

double LrSchedule::factor(int64_t step) const {
  const double s = static_cast<double>(step);
  const double warmup = static_cast<double>(warmup_steps_);
  if (type_ == ScheduleType::kConstant) return 1.0;
  if (step < warmup_steps_) return s / std::max(1.0, warmup);
  if (type_ == ScheduleType::kConstantWithWarmup) return 1.0;
  // Progress through the decay, 0 -> 1.
  const double decay_steps = std::max(1.0, static_cast<double>(total_steps_) - warmup);
  if (type_ == ScheduleType::kLinear)
    return std::max(0.0, (static_cast<double>(total_steps_) - s) / decay_steps);
  const double progress = (s - warmup) / decay_steps;
  const double num_cycles = 0.5;
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * num_cycles * 2.0 * progress)));
}

std::string LrSchedule::to_json(int64_t last_step) const {
  nlohmann::json j = {{"type", schedule_type_name(type_)},
                      {"base_lr", base_lr_},
                      {"warmup_steps", warmup_steps_},
                      {"total_steps", total_steps_},
                      {"last_step", last_step},
                      {"last_lr", lr(last_step)}};
  return j.dump(2);
}

int64_t LrSchedule::check_saved(const std::string& json_text, const std::string& source,
                                bool extending) const {
  check_json_depth(json_text, source);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
    const std::string type = j.at("type").get<std::string>();
    const auto total = j.at("total_steps").get<int64_t>();
    const auto warmup = j.at("warmup_steps").get<int64_t>();
    if (type != schedule_type_name(type_) ||
        (!extending && (total != total_steps_ || warmup != warmup_steps_)))
      throw_user_error(
          "{}: the checkpoint's schedule ({}, {} warmup of {} steps) differs from this config's "
          "({}, {} warmup of {} steps); resume with the config the checkpoint was made with",
          source, type, warmup, total, schedule_type_name(type_), warmup_steps_, total_steps_);
    return j.at("last_step").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: not a scheduler state written by dpo.cpp: {}", source, e.what());
  }
}

}  // namespace dpo
