// Learning-rate schedules with transformers' exact lambdas (get_scheduler): the learning rate of
// optimizer step k (0-based) is learning_rate * factor(k).
#pragma once
#include <cstdint>
#include <string>

namespace dpo {

enum class ScheduleType { kLinear, kConstant, kCosine, kConstantWithWarmup };

// UserError listing the known names for anything else.
ScheduleType parse_schedule_type(const std::string& name);
std::string schedule_type_name(ScheduleType type);

// transformers' TrainingArguments.get_warmup_steps: warmup_steps if >= 1, ceil(warmup_steps *
// total_steps) if in (0, 1) (transformers 5), else ceil(warmup_ratio * total_steps) (4.x).
int64_t warmup_steps_for(double warmup_steps, double warmup_ratio, int64_t total_steps);

class LrSchedule {
 public:
  LrSchedule(ScheduleType type, double base_lr, int64_t warmup_steps, int64_t total_steps);

  // The multiplier of the base rate after `step` scheduler steps (LambdaLR's lambda).
  double factor(int64_t step) const;
  double lr(int64_t step) const { return base_lr_ * factor(step); }

  ScheduleType type() const { return type_; }
  double base_lr() const { return base_lr_; }
  int64_t warmup_steps() const { return warmup_steps_; }
  int64_t total_steps() const { return total_steps_; }

  // scheduler.json: {"type", "base_lr", "warmup_steps", "total_steps", "last_step"}.
  std::string to_json(int64_t last_step) const;
  // Checks that a saved schedule matches this one; returns its last_step. UserError on mismatch.
  // `extending` (a run resumed with another max_steps): only the type must match; this schedule,
  // built for the new length, applies from the checkpoint's step on (transformers' Trainer does
  // the same: a linear decay continues from where the longer schedule is at that step).
  int64_t check_saved(const std::string& json_text, const std::string& source,
                      bool extending = false) const;

 private:
  ScheduleType type_;
  double base_lr_;
  int64_t warmup_steps_;
  int64_t total_steps_;
};

}  // namespace dpo
