// RngState, the data position and generator states a checkpoint keeps for exact resume: the JSON
// round trip (with and without a CUDA generator state) and the errors of a damaged file.
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
    RngState::from_json(json, "rng_state.json");
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RngState, RoundTripKeepsPositionAndBothGenerators) {
  RngState state;
  state.epoch = 2;
  state.batch_in_epoch = 7;
  state.nonfinite_in_a_row = 1;
  state.train_loss_sum = 3.25;
  state.train_loss_steps = 9;
  state.cpu_generator = RngState::capture_cpu_generator();
  state.cuda_generator = bytes({0, 1, 254, 255, 16});
  RngState back = RngState::from_json(state.to_json(), "rng_state.json");
  EXPECT_EQ(back.epoch, 2);
  EXPECT_EQ(back.batch_in_epoch, 7);
  EXPECT_EQ(back.nonfinite_in_a_row, 1);
  EXPECT_EQ(back.train_loss_sum, 3.25);
  EXPECT_EQ(back.train_loss_steps, 9);
  EXPECT_TRUE(at::equal(back.cpu_generator, state.cpu_generator));
  EXPECT_TRUE(at::equal(back.cuda_generator, state.cuda_generator));
}

TEST(RngState, CpuRunsWriteNoCudaStateAndOlderFilesReadBack) {
  RngState state;
  state.cpu_generator = bytes({1, 2, 3});
  const std::string json = state.to_json();
  EXPECT_EQ(json.find("cuda_generator"), std::string::npos) << json;
  RngState back = RngState::from_json(json, "rng_state.json");
  EXPECT_FALSE(back.cuda_generator.defined());
  EXPECT_TRUE(at::equal(back.cpu_generator, state.cpu_generator));
}

TEST(RngState, RestoringTheCpuGeneratorRepeatsItsDraws) {
  at::Tensor saved = RngState::capture_cpu_generator();
  at::Tensor first = at::rand({4});
  RngState::restore_cpu_generator(saved);
  EXPECT_TRUE(at::equal(at::rand({4}), first));
  // Without CUDA there is nothing to capture, and restoring nothing changes nothing.
  if (!at::hasCUDA()) {
    EXPECT_FALSE(RngState::capture_cuda_generator().defined());
    RngState::restore_cuda_generator(at::Tensor());
  }
}

TEST(RngState, DamagedFilesGiveClearErrors) {
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
