// Schedules against transformers' lambdas evaluated by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "train/scheduler.h"
#include "util/error.h"

using namespace dpo;

TEST(Scheduler, WarmupSteps) {
  EXPECT_EQ(warmup_steps_for(0, 0.1, 95), 10);  // ceil(9.5)
  EXPECT_EQ(warmup_steps_for(3, 0.5, 100), 3);  // warmup_steps wins
  EXPECT_EQ(warmup_steps_for(0, 0.0, 100), 0);
  EXPECT_EQ(warmup_steps_for(0.1, 0.5, 95), 10);  // transformers 5: below 1, a fraction
  EXPECT_EQ(warmup_steps_for(1, 0.5, 95), 1);
}

TEST(Scheduler, Linear) {
  LrSchedule s(ScheduleType::kLinear, 1e-3, 2, 10);
  EXPECT_DOUBLE_EQ(s.factor(0), 0.0);
  EXPECT_DOUBLE_EQ(s.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);
  EXPECT_DOUBLE_EQ(s.factor(6), 0.5);  // (10 - 6) / (10 - 2)
  EXPECT_DOUBLE_EQ(s.factor(10), 0.0);
  EXPECT_DOUBLE_EQ(s.factor(12), 0.0);
  EXPECT_DOUBLE_EQ(s.lr(6), 5e-4);
  LrSchedule no_warmup(ScheduleType::kLinear, 1.0, 0, 4);
  EXPECT_DOUBLE_EQ(no_warmup.factor(0), 1.0);
  EXPECT_DOUBLE_EQ(no_warmup.factor(1), 0.75);
}

TEST(Scheduler, Cosine) {
  LrSchedule s(ScheduleType::kCosine, 1.0, 2, 10);
  EXPECT_DOUBLE_EQ(s.factor(1), 0.5);
  EXPECT_DOUBLE_EQ(s.factor(2), 1.0);
  EXPECT_NEAR(s.factor(6), 0.5, 1e-15);  // halfway through the decay
  EXPECT_NEAR(s.factor(4), 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  EXPECT_NEAR(s.factor(10), 0.0, 1e-15);
}

TEST(Scheduler, ConstantIgnoresWarmupAndConstantWithWarmupDoesNot) {
  LrSchedule constant(ScheduleType::kConstant, 1.0, 5, 10);
  EXPECT_DOUBLE_EQ(constant.factor(0), 1.0);
  EXPECT_DOUBLE_EQ(constant.factor(9), 1.0);
  LrSchedule warm(ScheduleType::kConstantWithWarmup, 1.0, 4, 10);
  EXPECT_DOUBLE_EQ(warm.factor(0), 0.0);
  EXPECT_DOUBLE_EQ(warm.factor(1), 0.25);
  EXPECT_DOUBLE_EQ(warm.factor(4), 1.0);
  EXPECT_DOUBLE_EQ(warm.factor(9), 1.0);
}

TEST(Scheduler, NamesAndSavedState) {
  EXPECT_EQ(parse_schedule_type("cosine"), ScheduleType::kCosine);
  EXPECT_THROW(parse_schedule_type("step"), UserError);
  LrSchedule s(ScheduleType::kLinear, 1e-3, 2, 10);
  EXPECT_EQ(s.check_saved(s.to_json(7), "scheduler.json"), 7);
  LrSchedule other(ScheduleType::kLinear, 1e-3, 2, 20);
  try {
    other.check_saved(s.to_json(7), "ckpt/scheduler.json");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).find("ckpt/scheduler.json: the checkpoint's schedule (linear, "
                                         "2 warmup of 10 steps) differs"),
              0u);
  }
  EXPECT_THROW(s.check_saved("{}", "x"), UserError);
}
