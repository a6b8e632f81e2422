// Hub ids in a training config: model, tokenizer, adapter and dataset keys resolved in a fake
// Hugging Face cache (HF_HUB_CACHE) as the config is read, model_revision, a folder next to the
// file winning over the cache, and the key named in a cache miss.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "train/config.h"
#include "train/resume_check.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace dpo;

namespace {

constexpr const char* kMain = "0123456789abcdef0123456789abcdef01234567";
constexpr const char* kOld = "fedcba9876543210fedcba9876543210fedcba98";

void touch(const fs::path& path, const std::string& text = "{}\n") {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

class ConfigHub : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("config_hub_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    const fs::path models = dir_ / "hub" / "models--Org--Tiny";
    touch(models / "snapshots" / kMain / "config.json");
    touch(models / "snapshots" / kOld / "config.json");
    touch(models / "refs" / "main", kMain);
    touch(dir_ / "hub" / "datasets--Org--Pairs" / "snapshots" / kMain / "train.jsonl");
    touch(dir_ / "hub" / "datasets--Org--Pairs" / "snapshots" / kMain / "test.jsonl");
    touch(dir_ / "hub" / "datasets--Org--Pairs" / "refs" / "main", kMain);
    if (const char* old = std::getenv("HF_HUB_CACHE")) saved_ = old;
    ::setenv("HF_HUB_CACHE", (dir_ / "hub").c_str(), 1);
  }
  void TearDown() override {
    if (saved_)
      ::setenv("HF_HUB_CACHE", saved_->c_str(), 1);
    else
      ::unsetenv("HF_HUB_CACHE");
    fs::remove_all(dir_);
  }
  // recipe.yaml in the test folder, paths relative to it
  TrainConfig parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
    return parse_train_config(text, "recipe.yaml", overrides, TrainMode::kPreference, dir_);
  }
  std::string snapshot(const std::string& repo, const char* commit = kMain) const {
    return (dir_ / "hub" / repo / "snapshots" / commit).string();
  }

  fs::path dir_;
  std::optional<std::string> saved_;
};

}  // namespace

TEST_F(ConfigHub, ModelAndDatasetIdsResolve) {
  TrainConfig c = parse(
      "model_name_or_path: Org/Tiny\ntokenizer_name_or_path: Org/Tiny\n"
      "adapter_name_or_path: Org/Tiny\ndataset: Org/Pairs\neval_dataset: [Org/Pairs:test]\n");
  EXPECT_EQ(c.model_name_or_path, snapshot("models--Org--Tiny"));
  EXPECT_EQ(c.tokenizer_name_or_path, snapshot("models--Org--Tiny"));
  EXPECT_EQ(c.adapter_name_or_path, snapshot("models--Org--Tiny"));
  EXPECT_EQ(c.dataset, std::vector<std::string>{snapshot("datasets--Org--Pairs") + "/train.jsonl"});
  EXPECT_EQ(c.eval_dataset,
            std::vector<std::string>{snapshot("datasets--Org--Pairs") + "/test.jsonl"});
  EXPECT_EQ(c.model_hub_id, "Org/Tiny");
  EXPECT_EQ(lora_config_for(c).base_model_name_or_path, "Org/Tiny");  // as PEFT writes it
}

TEST_F(ConfigHub, ModelRevisionPinsModelAndTokenizer) {
  TrainConfig c = parse(
      "model_name_or_path: Org/Tiny\ntokenizer_name_or_path: Org/Tiny\n"
      "dataset: Org/Pairs\n",
      {std::string("model_revision=") + kOld});
  EXPECT_EQ(c.model_name_or_path, snapshot("models--Org--Tiny", kOld));
  EXPECT_EQ(c.tokenizer_name_or_path, snapshot("models--Org--Tiny", kOld));
  EXPECT_EQ(c.model_revision, kOld);
}

TEST_F(ConfigHub, AFolderNextToTheFileWins) {
  fs::create_directories(dir_ / "Org" / "Tiny");
  touch(dir_ / "Org" / "Pairs");
  TrainConfig c = parse("model_name_or_path: Org/Tiny\ndataset: Org/Pairs\n");
  EXPECT_EQ(c.model_name_or_path, (dir_ / "Org" / "Tiny").string());
  EXPECT_EQ(c.dataset, std::vector<std::string>{(dir_ / "Org" / "Pairs").string()});
  EXPECT_TRUE(c.model_hub_id.empty());
  // other paths stay relative to the file, ids or not
  c = parse("model_name_or_path: Org/Tiny\ndataset: Org/Pairs\noutput_dir: runs/x\n");
  EXPECT_EQ(c.output_dir, (dir_ / "runs" / "x").string());
}

TEST_F(ConfigHub, ACacheMissNamesTheKeyAndItsLine) {
  try {
    parse("model_name_or_path: Org/Tiny\ndataset: Org/Absent\n");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "recipe.yaml line 2: dataset: Org/Absent: no such local path, and no Hub dataset of "
              "that id in the Hugging Face cache " +
                  (dir_ / "hub").string() +
                  " (dpo reads the cache offline); fetch it with `hf download Org/Absent "
                  "--repo-type dataset`");
  }
}
