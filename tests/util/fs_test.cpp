#include "util/fs.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "util/error.h"

namespace dpo {
namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_fs_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Fs, AtomicWriteReplacesAndLeavesNoTemporary) {
  fs::path dir = fresh_dir("atomic");
  write_file_atomic(dir / "a.json", "first");
  write_file_atomic(dir / "a.json", "second");
  EXPECT_EQ(read_file(dir / "a.json"), "second");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}

TEST(Fs, ErrorsNameThePath) {
  fs::path dir = fresh_dir("errors");
  try {
    read_file(dir / "missing.txt");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.txt: cannot open for reading"), std::string::npos)
        << e.what();
  }
  try {
    read_file(dir);
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory, expected a file"), std::string::npos)
        << e.what();
  }
  write_file_atomic(dir / "file", "x");
  try {
    ensure_directory(dir / "file");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("exists and is not a directory"), std::string::npos)
        << e.what();
  }
  try {
    write_file_atomic(dir / "no" / "such" / "dir" / "x", "y");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open for writing"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Fs, CommitDirectoryReplacesAWholeFolder) {
  fs::path dir = fresh_dir("commit");
  fs::create_directories(dir / "ckpt.tmp");
  write_file_atomic(dir / "ckpt.tmp" / "a", "1");
  commit_directory(dir / "ckpt.tmp", dir / "ckpt");
  fs::create_directories(dir / "ckpt.tmp");
  write_file_atomic(dir / "ckpt.tmp" / "b", "2");
  commit_directory(dir / "ckpt.tmp", dir / "ckpt");
  EXPECT_FALSE(fs::exists(dir / "ckpt" / "a"));
  EXPECT_EQ(read_file(dir / "ckpt" / "b"), "2");
  EXPECT_FALSE(fs::exists(dir / "ckpt.tmp"));
  append_line(dir / "m.jsonl", "{\"step\": 1}");
  append_line(dir / "m.jsonl", "{\"step\": 2}");
  EXPECT_EQ(read_file(dir / "m.jsonl"), "{\"step\": 1}\n{\"step\": 2}\n");
  fs::remove_all(dir);
}

// Lowers this process's file size limit (RLIMIT_FSIZE) for a scope: past it, write() fails with
// EFBIG the way it fails with ENOSPC on a full disk. SIGXFSZ is ignored meanwhile, as dpo does.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &lowered);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

TEST(Fs, AFailedWriteKeepsTheOldFileAndLeavesNoTemporary) {
  fs::path dir = fresh_dir("full");
  write_file_atomic(dir / "state.json", "old");
  try {
    FileSizeLimit limit(1000);
    write_file_atomic(dir / "state.json", std::string(5000, 'x'));
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "state.json").string() + ": write failed (File too large)");
  }
  EXPECT_EQ(read_file(dir / "state.json"), "old");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1) << "a temporary file was left behind";
  fs::remove_all(dir);
}

TEST(Fs, AnUncommittedAtomicFileLeavesNoTrace) {
  fs::path dir = fresh_dir("uncommitted");
  write_file_atomic(dir / "a", "kept");
  {
    AtomicFile file(dir / "a");
    file.write("never committed");
  }
  EXPECT_EQ(read_file(dir / "a"), "kept");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(Fs, AFailedAppendLeavesNoPartialLine) {
  fs::path dir = fresh_dir("append");
  append_line(dir / "m.jsonl", "{\"step\": 1}");
  try {
    FileSizeLimit limit(100);
    append_line(dir / "m.jsonl", "{\"step\": 2, \"note\": \"" + std::string(200, 'x') + "\"}");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "m.jsonl").string() + ": write failed (File too large)");
  }
  EXPECT_EQ(read_file(dir / "m.jsonl"), "{\"step\": 1}\n");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dpo
