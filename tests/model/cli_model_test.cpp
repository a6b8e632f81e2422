// `dpo generate` and `dpo bench forward` end to end through the built binary (DPO_BINARY).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/fixture_util.h"
#include "util/fs.h"
#include "util/strings.h"

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string out;  // stdout and stderr
};

Result run_dpo(const std::string& arguments) {
  if (!fs::exists(DPO_BINARY))
    ADD_FAILURE() << DPO_BINARY << " is not built (build the dpo target first)";
  std::string command = std::string(DPO_BINARY) + " " + arguments + " 2>&1";
  Result result{-1, ""};
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  int status = ::pclose(pipe);
  result.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string model_dir(const std::string& kind) {
  return (dpo::testing::fixture_dir(kind) / "model").string();
}

}  // namespace

TEST(CliGenerate, GreedyFromPromptIdsAndTextMatchesFixture) {
  for (const char* kind : {"llama", "qwen2"}) {
    auto expected =
        nlohmann::json::parse(dpo::read_file(dpo::testing::fixture_dir(kind) / "expected.json"));
    auto prompt_ids = expected["pairs"][0]["prompt_ids"].get<std::vector<int64_t>>();
    std::string ids;
    for (int64_t id : prompt_ids) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    Result r = run_dpo("generate --model " + model_dir(kind) + " --prompt-ids " + ids +
                       " --max-new-tokens 16 --json");
    ASSERT_EQ(r.code, 0) << r.out;
    auto row = nlohmann::json::parse(r.out);
    EXPECT_EQ(r.out.rfind("{\"prompt_ids\":", 0), 0u) << r.out;  // key order as documented
    EXPECT_EQ(row["prompt_ids"].get<std::vector<int64_t>>(), prompt_ids);
    EXPECT_EQ(row["output_ids"], expected["greedy16_from_prompt0"]) << kind;
    EXPECT_TRUE(row["text"].is_string());
    // The same prompt as text goes through the tokenizer to the same ids.
    std::string prompt = expected["pairs"][0]["prompt"].get<std::string>();
    Result text = run_dpo("generate --model " + model_dir(kind) + " --prompt '" + prompt +
                          "' --max-new-tokens 16 --json");
    ASSERT_EQ(text.code, 0) << text.out;
    EXPECT_EQ(nlohmann::json::parse(text.out), row);
  }
}

TEST(CliGenerate, SeededSamplingAndPromptsFile) {
  std::string common = "generate --model " + model_dir("llama") +
                       " --prompt-ids 1,415,5565 --max-new-tokens 12 --temperature 1.5 --top-k 100 "
                       "--top-p 0.95 --json";
  Result a = run_dpo(common + " --seed 1"), b = run_dpo(common + " --seed 1"),
         c = run_dpo(common + " --seed 2");
  ASSERT_EQ(a.code, 0) << a.out;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  fs::path file =
      fs::temp_directory_path() / ("dpo_prompts_" + std::to_string(::getpid()) + ".txt");
  dpo::write_file_atomic(file, "The capital of Ireland is\n\nHello there\n");
  Result r = run_dpo("generate --model " + model_dir("llama") + " --prompts " + file.string() +
                     " --max-new-tokens 3 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  fs::remove(file);
}

TEST(CliGenerate, WithAdapter) {
  std::string base = "generate --model " + model_dir("llama") +
                     " --prompt-ids 1,415,5565,302 --max-new-tokens 8 --json";
  Result plain = run_dpo(base);
  Result adapted =
      run_dpo(base + " --adapter " + (dpo::testing::fixture_dir("llama") / "adapter").string());
  ASSERT_EQ(adapted.code, 0) << adapted.out;
  EXPECT_NE(plain.out, adapted.out);  // the fixture adapter has non-zero A and B
}

TEST(CliGenerate, UserErrors) {
  std::string m = "generate --model " + model_dir("llama");
  auto expect = [](const Result& r, const std::string& fragment) {
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.out.find(fragment), std::string::npos) << r.out;
  };
  expect(run_dpo(m), "give one of --prompt, --prompts or --prompt-ids");
  expect(run_dpo(m + " --prompt-ids 1,x"), "--prompt-ids: 'x' is not a token id");
  expect(run_dpo(m + " --prompt-ids 1,99999"),
         "token id 99999 is outside the vocabulary (0..31999)");
  expect(run_dpo(m + " --prompt hi --top-p 0"), "--top-p: must be a number in (0, 1] (got 0)");
  expect(run_dpo(m + " --prompt hi --chat"), "--chat: tokenizer_config.json has no chat_template");
  expect(run_dpo(m + " --prompt hi --dtype f64"), "--dtype: unknown dtype 'f64'");
  expect(run_dpo("generate --model /nonexistent --prompt-ids 1"),
         "--model /nonexistent: folder does not exist");
  expect(run_dpo(m + " --prompt hi --prompt-ids 1"), "excludes");
}

TEST(CliBenchForward, TinyShapeReportsTokensPerSecond) {
  fs::path lengths = fs::path(DPO_SOURCE_DIR) / "bench" / "hh_like_lengths.json";
  Result r =
      run_dpo("bench forward --model-shape tiny --lengths " + lengths.string() +
              " --sequences 4 --batch-size 2 --max-length 64 --dtype f32,bf16 --threads 1 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  auto lines = dpo::split(r.out, '\n');
  ASSERT_GE(lines.size(), 2u) << r.out;
  auto f32 = nlohmann::json::parse(lines[0]), bf16 = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(f32["dtype"], "f32");
  EXPECT_EQ(bf16["dtype"], "bf16");
  EXPECT_EQ(f32["sequences"], 4);
  EXPECT_GT(f32["tokens_per_s"].get<double>(), 0);
  EXPECT_LE(f32["tokens"].get<int64_t>(), 4 * 64);
  Result bad = run_dpo("bench forward --model-shape huge");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("unknown shape 'huge' (expected tinyllama, small or tiny)"),
            std::string::npos)
      << bad.out;
}
