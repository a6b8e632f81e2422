#include "util/fs.h"

#include <gtest/gtest.h>
#include <unistd.h>

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

}  // namespace
}  // namespace dpo
