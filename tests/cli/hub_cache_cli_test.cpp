// Hub ids end to end: the dpo binary with HF_HUB_CACHE on a temp cache whose snapshots link the
// fixture Llama and the tiny pairs (as huggingface_hub lays them out): dpo generate, dpo eval and
// a one-step dpo train by ORG/NAME give what the local paths give; the cache-miss messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/training_cli.h"

namespace fs = std::filesystem;

namespace {

using Exec = dpo::testing::CliRun;
constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";
const fs::path kModel = fs::path(DPO_FIXTURES) / "hf" / "llama" / "model";
const fs::path kPairs = fs::path(DPO_SOURCE_DIR) / "examples" / "data" / "tiny_pairs.jsonl";

// <repo>/snapshots/<commit>/<name> links to `target`, refs/main names the commit.
void link_into_snapshot(const fs::path& repo, const std::string& name, const fs::path& target) {
  const fs::path link = repo / "snapshots" / kCommit / name;
  fs::create_directories(link.parent_path());
  fs::create_symlink(target, link);
  fs::create_directories(repo / "refs");
  std::ofstream(repo / "refs" / "main") << kCommit;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class HubCacheCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = dpo::testing::fresh_test_dir(
        "dpo_hub_cli", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    hub_ = dir_ / "hub";
    for (const auto& entry : fs::directory_iterator(kModel))
      link_into_snapshot(hub_ / "models--Org--Tiny", entry.path().filename().string(),
                         entry.path());
    link_into_snapshot(hub_ / "datasets--Org--Pairs", "data/train.jsonl", kPairs);
    link_into_snapshot(hub_ / "datasets--Org--Pairs", "data/test.jsonl", kPairs);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Exec dpo(const std::string& arguments, bool training = false) const {
    return dpo::testing::run_training_cli("dpo_hub_cli", arguments,
                                          "HF_HUB_CACHE='" + hub_.string() + "'", training);
  }
  fs::path snapshot(const std::string& repo) const { return hub_ / repo / "snapshots" / kCommit; }

  fs::path dir_, hub_;
};

}  // namespace

TEST_F(HubCacheCli, GenerateByHubIdMatchesTheFolder) {
  const std::string args = " --prompt-ids 1,2,3 --max-new-tokens 4 --threads 1";
  Exec by_id = dpo("generate --model Org/Tiny" + args);
  Exec by_path = dpo("generate --model " + kModel.string() + args);
  ASSERT_EQ(by_id.status, 0) << by_id.output;
  ASSERT_EQ(by_path.status, 0) << by_path.output;
  EXPECT_EQ(by_id.output, by_path.output);
  Exec pinned = dpo("generate --model Org/Tiny --revision " + std::string(kCommit) + args);
  EXPECT_EQ(pinned.output, by_path.output);
}

TEST_F(HubCacheCli, EvalReadsAHubDatasetSplit) {
  Exec by_id = dpo("eval --model Org/Tiny --data Org/Pairs:test --json --threads 1");
  Exec by_path =
      dpo("eval --model " + kModel.string() + " --data " + kPairs.string() + " --json --threads 1");
  ASSERT_EQ(by_id.status, 0) << by_id.output;
  EXPECT_NE(by_id.output.find(snapshot("datasets--Org--Pairs").string() + "/data/test.jsonl"),
            std::string::npos);
  // the same metrics (timings aside), which come first in the JSON object
  auto metrics = [](const std::string& output) {
    const size_t from = output.find("{\"eval_entropy\"");
    return from == std::string::npos ? ""
                                     : output.substr(from, output.find("\"eval_runtime\"") - from);
  };
  EXPECT_FALSE(metrics(by_path.output).empty()) << by_path.output;
  EXPECT_EQ(metrics(by_id.output), metrics(by_path.output));
}

TEST_F(HubCacheCli, TrainResolvesModelAndDatasetIds) {
  const fs::path out = dir_ / "out";
  std::ofstream(dir_ / "hub.yaml") << "model_name_or_path: Org/Tiny\n"
                                      "dataset: Org/Pairs\n"
                                      "eval_dataset: Org/Pairs:test\n"
                                      "device: cpu\nthreads: 1\nmax_length: 64\nlora_r: 4\n"
                                      "max_steps: 1\nper_device_train_batch_size: 4\n"
                                      "output_dir: out\n";
  Exec run = dpo("train " + (dir_ / "hub.yaml").string(), /*training=*/true);
  ASSERT_EQ(run.status, 0) << run.output;
  const std::string config = read_text(out / "config.yaml");
  EXPECT_NE(config.find("model_name_or_path: \"" + snapshot("models--Org--Tiny").string() + "\""),
            std::string::npos)
      << config;
  EXPECT_NE(config.find(snapshot("datasets--Org--Pairs").string() + "/data/train.jsonl"),
            std::string::npos);
  EXPECT_NE(config.find(snapshot("datasets--Org--Pairs").string() + "/data/test.jsonl"),
            std::string::npos);
  // PEFT names a Hub model by its id
  const auto adapter = nlohmann::json::parse(read_text(out / "adapter_config.json"));
  EXPECT_EQ(adapter.value("base_model_name_or_path", ""), "Org/Tiny");
}

TEST_F(HubCacheCli, CacheMissesNameTheKeyAndTheDownload) {
  std::ofstream(dir_ / "miss.yaml") << "model_name_or_path: Org/Absent\ndataset: Org/Pairs\n";
  Exec train = dpo("train " + (dir_ / "miss.yaml").string(), /*training=*/true);
  EXPECT_EQ(train.status, 1);
  EXPECT_NE(train.output.find("error: " + (dir_ / "miss.yaml").string() +
                              " line 1: model_name_or_path: Org/Absent: no such local path, and "
                              "no Hub model of that id in the Hugging Face cache " +
                              hub_.string() +
                              " (dpo reads the cache offline); fetch it with `hf download "
                              "Org/Absent`"),
            std::string::npos)
      << train.output;
  Exec revision = dpo(
      "train " + (dir_ / "miss.yaml").string() + " model_name_or_path=Org/Tiny model_revision=v9",
      /*training=*/true);
  EXPECT_NE(revision.output.find("override 'model_name_or_path=Org/Tiny': model_name_or_path: "
                                 "Org/Tiny: the Hugging Face cache " +
                                 hub_.string() + " holds this model but not its revision 'v9'"),
            std::string::npos)
      << revision.output;
  Exec data = dpo("data inspect Org/Absent");
  EXPECT_EQ(data.status, 1);
  EXPECT_NE(data.output.find("error: FILE: Org/Absent: no such local path, and no Hub dataset"),
            std::string::npos)
      << data.output;
  Exec adapter = dpo("generate --model Org/Tiny --adapter Org/NoAdapter --prompt-ids 1");
  EXPECT_NE(adapter.output.find("error: --adapter: Org/NoAdapter: no such local path"),
            std::string::npos)
      << adapter.output;
}
