// The run folder's housekeeping: the one-run-per-output_dir lock and the cleanup of what a killed
// run left behind.
#include "train/run_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "util/error.h"

namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_run_dir_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string read(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

TEST(OutputDirLock, ASecondRunIntoTheFolderIsRefusedWithTheHoldersPid) {
  const fs::path dir = fresh_dir("lock");
  {
    dpo::OutputDirLock first(dir);
    EXPECT_EQ(read(dir / ".dpo.lock"), std::to_string(::getpid()) + "\n");
    try {
      dpo::OutputDirLock second(dir);  // a separate open file: flock conflicts within a process
      FAIL() << "the second lock was granted";
    } catch (const dpo::UserError& e) {
      EXPECT_EQ(std::string(e.what()), "output_dir " + dir.string() +
                                           ": in use by another dpo run (pid " +
                                           std::to_string(::getpid()) +
                                           "); wait for it to end or choose another output_dir");
    }
  }
  // released with its holder, and the pid is gone with it
  EXPECT_EQ(read(dir / ".dpo.lock"), "");
  EXPECT_NO_THROW(dpo::OutputDirLock again(dir));
  fs::remove_all(dir);
}

TEST(OutputDirLock, AFolderThatIsNotThereIsNamed) {
  const fs::path dir = fresh_dir("lock_missing") / "not" / "here";
  try {
    dpo::OutputDirLock lock(dir);
    FAIL() << "no error";
  } catch (const dpo::UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "output_dir " + dir.string() + ": cannot write there (No such file or directory)");
  }
  fs::remove_all(dir.parent_path().parent_path());
}

TEST(CleanStaleTemporaries, RemovesTheLeftoversOfAKilledRunAndKeepsEverythingElse) {
  const fs::path dir = fresh_dir("clean");
  write(dir / ".checkpoint-7.tmp" / "adapter_model.safetensors", "half");
  write(dir / ".deleting-checkpoint-2" / "trainer_state.json", "{}");
  write(dir / ".deleting-checkpoint-3.4711" / "trainer_state.json", "{}");  // older naming
  write(dir / ".model.tmp" / "model.safetensors", "half");
  write(dir / "metrics.jsonl.tmp.4711", "half");
  write(dir / "adapter_model.safetensors.tmp.12", "half");
  // kept: the run's files, checkpoints and anything that only looks similar
  write(dir / "metrics.jsonl", "{}\n");
  write(dir / "checkpoint-5" / "trainer_state.json", "{}");
  write(dir / "notes.tmp.txt", "mine");
  write(dir / "data.tmp.", "mine");
  write(dir / ".dpo.lock", "");

  const auto cleaned = dpo::clean_stale_temporaries(dir);
  EXPECT_EQ(cleaned,
            (std::vector<std::string>{
                ".checkpoint-7.tmp", ".deleting-checkpoint-2", ".deleting-checkpoint-3.4711",
                ".model.tmp", "adapter_model.safetensors.tmp.12", "metrics.jsonl.tmp.4711"}));
  for (const auto& name : cleaned) EXPECT_FALSE(fs::exists(dir / name)) << name;
  for (const char* kept :
       {"metrics.jsonl", "checkpoint-5", "notes.tmp.txt", "data.tmp.", ".dpo.lock"})
    EXPECT_TRUE(fs::exists(dir / kept)) << kept;
  EXPECT_TRUE(dpo::clean_stale_temporaries(dir).empty());
  fs::remove_all(dir);
}

// commit_directory replaces checkpoint-N by renaming it to checkpoint-N.old.PID, then renaming
// the new one in: a kill between the two must not lose the checkpoint.
TEST(CleanStaleTemporaries, PutsBackACheckpointMovedAsideWhenItsReplacementNeverArrived) {
  const fs::path dir = fresh_dir("old");
  write(dir / "checkpoint-4.old.99" / "trainer_state.json", "four");
  write(dir / "checkpoint-6.old.99" / "trainer_state.json", "old six");
  write(dir / "checkpoint-6" / "trainer_state.json", "new six");

  const auto cleaned = dpo::clean_stale_temporaries(dir);
  EXPECT_EQ(cleaned, (std::vector<std::string>{"checkpoint-4.old.99", "checkpoint-6.old.99"}));
  EXPECT_EQ(read(dir / "checkpoint-4" / "trainer_state.json"), "four");
  EXPECT_EQ(read(dir / "checkpoint-6" / "trainer_state.json"), "new six");
  EXPECT_FALSE(fs::exists(dir / "checkpoint-4.old.99"));
  EXPECT_FALSE(fs::exists(dir / "checkpoint-6.old.99"));
  ASSERT_EQ(dpo::list_checkpoints(dir).size(), 2u);
  fs::remove_all(dir);
}

TEST(RotateCheckpoints, KeepsTheNewestAndTheOneInUse) {
  const fs::path dir = fresh_dir("rotate");
  for (int step : {1, 2, 3, 4}) write(dir / ("checkpoint-" + std::to_string(step)) / "x", "");
  dpo::rotate_checkpoints(dir, 2, dir / "checkpoint-1");
  std::vector<int64_t> steps;
  for (const auto& [step, path] : dpo::list_checkpoints(dir)) steps.push_back(step);
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(dpo::clean_stale_temporaries(dir).empty()) << "rotation left a .deleting folder";
  fs::remove_all(dir);
}

}  // namespace
