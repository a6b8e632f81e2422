// ResumeState (rng_state.json), the data position, totals and generator states a checkpoint keeps
// for exact resume: the JSON round trip (with and without a CUDA generator state) and the errors of
// a damaged file.
#include <gtest/gtest.h>

#include "train/checkpoint.h"
#include "util/error.h"

using namespace dpo;

namespace {

at::Tensor bytes(std::vector<int64_t> values) {
  return at::tensor(values, at::kLong).to(at::kByte);
}

std::string error_of(const std::string& json) {
  try {
    ResumeState::from_json(json, "rng_state.json");
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ResumeState, RoundTripKeepsPositionAndBothGenerators) {
  ResumeState state;
  state.position.epoch = 2;
  state.position.batch_in_epoch = 7;
  state.totals.nonfinite_in_a_row = 1;
  state.totals.train_loss_sum = 3.25;
  state.totals.train_loss_steps = 9;
  state.generators.cpu = Generators::capture_cpu();
  state.generators.cuda = bytes({0, 1, 254, 255, 16});
  ResumeState back = ResumeState::from_json(state.to_json(), "rng_state.json");
  EXPECT_EQ(back.position.epoch, 2);
  EXPECT_EQ(back.position.batch_in_epoch, 7);
  EXPECT_EQ(back.totals.nonfinite_in_a_row, 1);
  EXPECT_EQ(back.totals.train_loss_sum, 3.25);
  EXPECT_EQ(back.totals.train_loss_steps, 9);
  EXPECT_TRUE(at::equal(back.generators.cpu, state.generators.cpu));
  EXPECT_TRUE(at::equal(back.generators.cuda, state.generators.cuda));
}

TEST(ResumeState, CpuRunsWriteNoCudaStateAndOlderFilesReadBack) {
  ResumeState state;
  state.generators.cpu = bytes({1, 2, 3});
  const std::string json = state.to_json();
  EXPECT_EQ(json.find("cuda_generator"), std::string::npos) << json;
  ResumeState back = ResumeState::from_json(json, "rng_state.json");
  EXPECT_FALSE(back.generators.cuda.defined());
  EXPECT_TRUE(at::equal(back.generators.cpu, state.generators.cpu));
}

TEST(ResumeState, RestoringTheCpuGeneratorRepeatsItsDraws) {
  at::Tensor saved = Generators::capture_cpu();
  at::Tensor first = at::rand({4});
  Generators::restore_cpu(saved);
  EXPECT_TRUE(at::equal(at::rand({4}), first));
  // Without CUDA there is nothing to capture, and restoring nothing changes nothing.
  if (!at::hasCUDA()) {
    EXPECT_FALSE(Generators::capture_cuda().defined());
    Generators::restore_cuda(at::Tensor());
  }
}

TEST(ResumeState, DamagedFilesGiveClearErrors) {
  const std::string head = R"({"epoch": 0, "batch_in_epoch": 0, )";
  EXPECT_EQ(error_of(head + R"("cpu_generator": "abc"})"),
            "rng_state.json: cpu_generator has an odd number of hex digits");
  EXPECT_EQ(error_of(head + R"("cpu_generator": "zz"})"),
            "rng_state.json: cpu_generator is not hex");
  EXPECT_EQ(error_of(head + R"("cpu_generator": "00", "cuda_generator": "0g"})"),
            "rng_state.json: cuda_generator is not hex");
  EXPECT_NE(error_of(R"({"epoch": 0})").find("rng_state.json: malformed rng state"),
            std::string::npos);
}
