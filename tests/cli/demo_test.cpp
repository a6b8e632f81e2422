// `dpo demo --quick` end to end: the acceptance check of issue 7. After DPO, P(right) > P(wrong) on
// every probe used in training, and the margin log P(right) - log P(wrong) grew against the SFT
// model on each of them; the run folder is complete.
#include <gtest/gtest.h>

#include <unistd.h>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "app/demo.h"
#include "util/error.h"

namespace {

namespace fs = std::filesystem;

struct CommandOutput {
  int exit_code = -1;
  std::string stdout_text;
};

// Runs dpo from the repository root; stderr (progress) goes to `log`.
CommandOutput run_dpo(const std::string& arguments, const fs::path& log) {
  std::string command = std::string("cd ") + DPO_SOURCE_DIR + " && " + DPO_BINARY + " " +
                        arguments + " 2>" + log.string();
  CommandOutput result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  while (fgets(buffer.data(), buffer.size(), pipe.get())) result.stdout_text += buffer.data();
  int status = pclose(pipe.release());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The three checks share one demo run. ctest runs every test in its own process, in parallel, so
// they live in one test: separate tests would each run the demo (or race on one folder).
void expect_dpo_prefers_the_right_answer_on_every_trained_probe(const nlohmann::json& doc) {
  int trained = 0;
  for (const auto& row : doc["probes"]) {
    if (!row["in_pairs"].get<bool>()) continue;
    ++trained;
    const std::string name =
        row["prompt"].get<std::string>() + " ->" + row["right"].get<std::string>();
    const double right = row["dpo"]["p_right"].get<double>(),
                 wrong = row["dpo"]["p_wrong"].get<double>();
    EXPECT_GT(right, wrong) << name;
    EXPECT_GT(row["margin_dpo"].get<double>(), row["margin_sft"].get<double>()) << name;
    // margin_* are log P(right) - log P(wrong) of the reported probabilities
    EXPECT_NEAR(row["margin_dpo"].get<double>(), std::log(right) - std::log(wrong), 1e-6) << name;
  }
  EXPECT_EQ(trained, 10);
  EXPECT_EQ(doc["probes"].size(), 28u);
}

// Before DPO the misconceptions win (the wrong answer is the frequent one in the corpus) on most
// misconception probes: otherwise the demo would show nothing.
void expect_sft_learned_the_corpus_frequencies(const nlohmann::json& doc) {
  int misconceptions = 0, wrong_wins = 0;
  for (const auto& row : doc["probes"]) {
    if (row["kind"] != "misconception") continue;
    ++misconceptions;
    wrong_wins += row["sft"]["p_wrong"].get<double>() > row["sft"]["p_right"].get<double>();
  }
  EXPECT_EQ(misconceptions, 10);
  EXPECT_GE(wrong_wins, 8);
}

void expect_complete_folders(const fs::path& out) {
  for (const char* file :
       {"base/config.json", "base/model.safetensors", "base/tokenizer.json", "sft/config.json",
        "dpo/config.yaml", "dpo/metrics.jsonl", "dpo/generations.jsonl", "dpo/report.html",
        "dpo/adapter_model.safetensors", "dpo/adapter_config.json"})
    EXPECT_TRUE(fs::exists(out / file)) << file;
  bool checkpoint = false;
  for (const auto& entry : fs::directory_iterator(out / "dpo"))
    checkpoint = checkpoint || entry.path().filename().string().rfind("checkpoint-", 0) == 0;
  EXPECT_TRUE(checkpoint) << "no checkpoint-N folder in " << (out / "dpo");
}

TEST(DemoQuick, SftLearnsTheCorpusThenDpoFlipsEveryTrainedProbeAndLeavesCompleteFolders) {
  const fs::path dir = fs::temp_directory_path() / ("dpo_demo_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const CommandOutput run = run_dpo(
      "demo --quick --json --threads 2 --output " + (dir / "out").string(), dir / "stderr.log");
  ASSERT_EQ(run.exit_code, 0) << read_all(dir / "stderr.log") << run.stdout_text;
  const auto doc = nlohmann::json::parse(run.stdout_text);
  {
    SCOPED_TRACE("SFT learned the corpus frequencies");
    expect_sft_learned_the_corpus_frequencies(doc);
  }
  {
    SCOPED_TRACE("DPO prefers the right answer on every trained probe");
    expect_dpo_prefers_the_right_answer_on_every_trained_probe(doc);
  }
  {
    SCOPED_TRACE("complete folders");
    expect_complete_folders(dir / "out");
  }
  fs::remove_all(dir);
}

TEST(Demo, ProbesFileErrorsNameFileAndEntry) {
  auto dir = fs::temp_directory_path() / ("dpo_demo_probe_errors_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto expect_error = [&](const std::string& text, const std::string& needle) {
    std::ofstream(dir / "probes.json") << text;
    try {
      dpo::load_demo_probes(dir / "probes.json");
      ADD_FAILURE() << "no error for " << text;
    } catch (const dpo::UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("probes.json"), std::string::npos) << e.what();
    }
  };
  expect_error("[", "not valid JSON");
  expect_error("[]", "non-empty list");
  expect_error(R"([{"prompt": "a", "right": " b", "wrong": " c"}])", "probe 0: \"in_pairs\"");
  expect_error(
      R"([{"prompt": "a", "right": " b", "wrong": " c", "in_pairs": true}, {"prompt": "a", "right": ""}])",
      "probe 1: \"right\"");
  auto probes = dpo::load_demo_probes(fs::path(DPO_SOURCE_DIR) / "assets/demo/probes.json");
  EXPECT_EQ(probes.size(), 28u);
}

TEST(Demo, MissingAssetsIsAUserError) {
  dpo::DemoOptions options;
  options.assets_dir =
      fs::temp_directory_path() / ("dpo_demo_no_assets_" + std::to_string(::getpid()));
  options.output_dir =
      fs::temp_directory_path() / ("dpo_demo_no_assets_out_" + std::to_string(::getpid()));
  try {
    dpo::run_demo(options);
    FAIL() << "no error";
  } catch (const dpo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("corpus.jsonl is missing"), std::string::npos) << e.what();
  }
}

TEST(Demo, AssetsAreUpToDateWithTheirGenerator) {
  std::string command =
      std::string("python3 ") + DPO_SOURCE_DIR + "/scripts/make_demo_assets.py --check";
  EXPECT_EQ(std::system(command.c_str()), 0);
}

}  // namespace
