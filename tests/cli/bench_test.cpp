// `dpo bench train` end to end on the tiny shape: it runs, prints every field, and the numbers are
// sane.
#include <gtest/gtest.h>

#include <unistd.h>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/bench.h"
#include "dist/process_group.h"
#include "util/error.h"

namespace {

struct CommandOutput {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

CommandOutput run_dpo(const std::string& arguments, const std::string& folder = DPO_SOURCE_DIR) {
  std::string command = "cd '" + folder + "' && " + DPO_BINARY + " " + arguments + " 2>&1";
  CommandOutput result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe.get())) result.output += buffer.data();
  int status = pclose(pipe.release());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of('\n');
  auto begin = text.rfind('\n', end);
  return text.substr(begin == std::string::npos ? 0 : begin + 1,
                     end - (begin == std::string::npos ? 0 : begin + 1) + 1);
}

TEST(BenchTrain, TinyShapeJsonHasEveryFieldAndSaneValues) {
  auto run = run_dpo(
      "bench train --model-shape tiny --steps 2 --warmup 1 --pairs-per-step 2 --threads 1 --layout "
      "padded --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto j = nlohmann::json::parse(last_line(run.output));
  for (const char* key : {"real_tokens_per_s", "pairs_per_s", "sec_per_step_median", "pad_fraction",
                          "peak_mem_gib", "matmul_tflops", "mfu", "padded_tokens_per_s"}) {
    ASSERT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
    EXPECT_TRUE(std::isfinite(j[key].get<double>())) << key;
  }
  EXPECT_GT(j["real_tokens_per_s"].get<double>(), 0.0);
  EXPECT_GT(j["peak_mem_gib"].get<double>(), 0.0);
  EXPECT_GT(j["matmul_tflops"].get<double>(), 0.0);
  EXPECT_GE(j["pad_fraction"].get<double>(), 0.0);
  EXPECT_LT(j["pad_fraction"].get<double>(), 1.0);
  EXPECT_GE(j["padded_tokens_per_s"].get<double>(), j["real_tokens_per_s"].get<double>());
  // Fresh LoRA (B = 0): the first step's sigmoid loss is ln 2.
  auto losses = j["losses"];
  ASSERT_EQ(losses.size(), 3u);
  EXPECT_NEAR(losses[0].get<double>(), std::log(2.0), 1e-4);
  EXPECT_EQ(j["pairs_per_step"].get<int64_t>(), 2);
  EXPECT_EQ(j["layout"].get<std::string>(), "padded");
}

TEST(BenchTrain, FindsItsDefaultLengthsFromAnyFolder) {
  // Outside the repository the default bench/hh_like_lengths.json is found from the binary.
  auto run =
      run_dpo("bench train --model-shape tiny --steps 1 --warmup 0 --pairs-per-step 2 --json",
              std::filesystem::temp_directory_path().string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(nlohmann::json::parse(last_line(run.output))["pairs_per_step"].get<int64_t>(), 2);
}

TEST(BenchTrain, PackedLayoutHasLessPadding) {
  // The first 2 pairs of bench/hh_like_lengths.json: (109, 75, 64), (47, 19, 32): 2*109+75+64 +
  // 2*47+19+32 = 502 real tokens; padded, 2*2 rows of the longest sequence, 184 tokens.
  auto padded = run_dpo(
      "bench train --model-shape tiny --steps 1 --warmup 0 --pairs-per-step 2 --threads 1 --layout "
      "padded --json");
  ASSERT_EQ(padded.exit_code, 0) << padded.output;
  EXPECT_NEAR(nlohmann::json::parse(last_line(padded.output))["pad_fraction"].get<double>(),
              1.0 - 502.0 / (4 * 184.0), 1e-9);
  auto run = run_dpo(
      "bench train --model-shape tiny --steps 1 --warmup 0 --pairs-per-step 2 --threads 1 --layout "
      "packed --varlen off --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto j = nlohmann::json::parse(last_line(run.output));
  EXPECT_EQ(j["layout"].get<std::string>(), "packed");
  // With the mask: rows as wide as the longest sequence (184), first-fit longest first:
  // [184], [173], [79 + 66]: 3 rows instead of 4.
  EXPECT_NE(j["attention"].get<std::string>().find("segment mask"), std::string::npos);
  EXPECT_NEAR(j["pad_fraction"].get<double>(), 1.0 - 502.0 / (3 * 184.0), 1e-9);
  // Variable-length attention (the default on a CPU: sequence by sequence): one row, no padding
  // at all, and the same first loss.
  auto varlen = run_dpo(
      "bench train --model-shape tiny --steps 1 --warmup 0 --pairs-per-step 2 --threads 1 --layout "
      "packed --json");
  ASSERT_EQ(varlen.exit_code, 0) << varlen.output;
  auto v = nlohmann::json::parse(last_line(varlen.output));
  EXPECT_NE(v["attention"].get<std::string>().find("varlen"), std::string::npos);
  EXPECT_EQ(v["pad_fraction"].get<double>(), 0.0);
  EXPECT_NEAR(v["losses"][0].get<double>(), j["losses"][0].get<double>(), 1e-5);
}

// The reference-free objectives' step: no reference pass, 2 forward passes' worth of useful
// FLOPs instead of 3; a fresh adapter gives CPO's sigmoid term ln 2 plus its NLL.
TEST(BenchTrain, ReferenceFreeObjectivesRunTheirOwnStep) {
  for (const char* objective : {"cpo", "orpo"}) {  // (simpo: no NLL, so about ln 2)
    auto run = run_dpo(std::string("bench train --model-shape tiny --steps 1 --warmup 0 "
                                   "--pairs-per-step 2 --threads 1 --json --objective ") +
                       objective);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    auto j = nlohmann::json::parse(last_line(run.output));
    EXPECT_EQ(j["objective"].get<std::string>(), objective);
    EXPECT_TRUE(std::isfinite(j["losses"][0].get<double>()));
    EXPECT_GT(j["losses"][0].get<double>(), std::log(2.0));  // + the NLL term
  }
  auto bad = run_dpo("bench train --objective kto");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("--objective"), std::string::npos) << bad.output;
}

TEST(BenchTrain, TextOutputNamesTheFields) {
  auto run =
      run_dpo("bench train --model-shape tiny --steps 1 --warmup 0 --pairs-per-step 1 --threads 1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const char* field :
       {"real tokens/s", "pairs/s", "s/step", "pad fraction", "peak memory", "MFU"})
    EXPECT_NE(run.output.find(field), std::string::npos) << field << " not in:\n" << run.output;
}

// 2 ranks x 2 pairs take the step of 1 process x 4 pairs (the same pairs, the gradients summed as
// dpo train sums them): the same losses; rank 0 reports the scaling and the all-reduce's share.
TEST(BenchTrain, DataParallelRanksTakeTheStepOfOneProcess) {
  if (!dpo::dist::group_support_built())
    GTEST_SKIP() << "this build has no c10d Gloo (libgloo-dev was not found)";
  const std::string common =
      "bench train --model-shape tiny --steps 2 --warmup 1 --threads 2 --layout packed --json ";
  auto one = run_dpo(common + "--pairs-per-step 4");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = run_dpo(common + "--pairs-per-step 2 --nproc 2");
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const auto a = nlohmann::json::parse(last_line(one.output));
  const auto b = nlohmann::json::parse(last_line(two.output));
  EXPECT_EQ(b["world_size"], 2);
  EXPECT_EQ(b["backend"], "gloo");
  const auto la = a["losses"].get<std::vector<double>>(),
             lb = b["losses"].get<std::vector<double>>();
  ASSERT_EQ(la.size(), 3u);
  ASSERT_EQ(lb.size(), la.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(lb[i], la[i], 1e-5 * std::fabs(la[i])) << i;
  EXPECT_GT(b["single_process_real_tokens_per_s"].get<double>(), 0.0);
  EXPECT_NEAR(
      b["scaling"].get<double>(),
      b["real_tokens_per_s"].get<double>() / b["single_process_real_tokens_per_s"].get<double>(),
      1e-9);
  EXPECT_GT(b["allreduce_share"].get<double>(), 0.0);
  EXPECT_LT(b["allreduce_share"].get<double>(), 1.0);
  EXPECT_GT(b["allreduce_seconds_median"].get<double>(), 0.0);
  // packed rows under variable-length attention: no padding in either
  EXPECT_EQ(b["pad_fraction"].get<double>(), a["pad_fraction"].get<double>());
  // the text names them
  auto text = run_dpo(
      "bench train --model-shape tiny --steps 1 --warmup 0 --pairs-per-step 1 "
      "--threads 2 --nproc 2");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (const char* field : {"data-parallel    2 ranks (c10d gloo)", "all-reduce", "scaling"})
    EXPECT_NE(text.output.find(field), std::string::npos) << field << " not in:\n" << text.output;
}

TEST(BenchTrain, UserErrors) {
  auto shape = run_dpo("bench train --model-shape huge");
  EXPECT_EQ(shape.exit_code, 1);
  EXPECT_NE(shape.output.find("--model-shape"), std::string::npos) << shape.output;
  auto lengths = run_dpo("bench train --lengths /nonexistent/lengths.json");
  EXPECT_EQ(lengths.exit_code, 1);
  EXPECT_NE(lengths.output.find("/nonexistent/lengths.json"), std::string::npos) << lengths.output;
}

TEST(BenchLengths, BadFileMessagesNameFileAndEntry) {
  auto dir =
      std::filesystem::temp_directory_path() / ("dpo_bench_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  try {
    dpo::load_bench_lengths(write("bad_entry.json", R"({"pairs": [[1, 2, 3], [4, 5]]})"));
    FAIL() << "no error";
  } catch (const dpo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("bad_entry.json: pairs[1]"), std::string::npos)
        << e.what();
  }
  try {
    dpo::load_bench_lengths(write("no_pairs.json", R"({"lengths": []})"));
    FAIL() << "no error";
  } catch (const dpo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("\"pairs\""), std::string::npos) << e.what();
  }
  try {
    dpo::load_bench_lengths(write("not_json.json", "{"));
    FAIL() << "no error";
  } catch (const dpo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
  auto ok = dpo::load_bench_lengths(write("ok.json", R"({"pairs": [[1, 2, 3]]})"));
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0][2], 3);
}

TEST(BenchFlops, CountsThreeForwardsOverRealTokens) {
  dpo::ModelConfig c = dpo::bench_model_shape("tiny");
  // One pair (1, 1, 1): two sequences of 2 tokens.
  const double C = 64, layer = C * C + 2 * C * 32 + C * C + 3 * C * 128,
               params = 2 * layer + C * 1024;
  const double attention = 2 * 4.0 * C * 2 * 3 / 2.0;  // per layer, two sequences of length 2
  EXPECT_DOUBLE_EQ(dpo::step_model_flops(c, {{1, 1, 1}}), 3.0 * (2.0 * params * 4 + 2 * attention));
  EXPECT_DOUBLE_EQ(dpo::step_model_flops(c, {{1, 1, 1}}, /*reference_pass=*/false),
                   2.0 * (2.0 * params * 4 + 2 * attention));
  // Prompt sharing: 3 tokens; the prompt and chosen (queries see 1, 2 keys), rejected (sees 2).
  const double shared_attention = 4.0 * C * (1 + 2 + 2);
  EXPECT_DOUBLE_EQ(dpo::step_model_flops(c, {{1, 1, 1}}, true, /*shared_prompt=*/true),
                   3.0 * (2.0 * params * 3 + 2 * shared_attention));
}

}  // namespace
