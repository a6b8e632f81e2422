// util/output_guard.h: outputs never destroy what the command did not write.
#include "util/output_guard.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <string>

#include "util/error.h"
#include "util/fs.h"

namespace dpo {
namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_guard_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

// A pid no process has: a child that has exited and been reaped.
long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

// Runs `f` in the current folder `dir`, restoring the previous one.
void in_folder(const fs::path& dir, const std::function<void()>& f) {
  const fs::path before = fs::current_path();
  fs::current_path(dir);
  try {
    f();
  } catch (...) {
    fs::current_path(before);
    throw;
  }
  fs::current_path(before);
}

TEST(OutputGuard, OutputApartFromInputs) {
  const fs::path dir = fresh_dir("apart");
  write(dir / "model" / "config.json", "{}");
  write(dir / "adapter" / "adapter_config.json", "{}");
  const std::vector<ProtectedPath> inputs = {{dir / "model", "base model", "--model"},
                                             {dir / "adapter", "adapter", "--adapter"}};
  auto check = [&](const fs::path& out) {
    return error_of([&] { check_output_apart(out, "--output", inputs, "go elsewhere"); });
  };
  EXPECT_NE(check(dir / "model").find(": is the base model folder (--model); go elsewhere"),
            std::string::npos)
      << check(dir / "model");
  EXPECT_NE(check(dir / "model/").find("is the base model folder"), std::string::npos);
  EXPECT_NE(check(dir / "adapter" / "merged").find("lies inside the adapter folder"),
            std::string::npos);
  EXPECT_NE(check(dir).find("contains the base model folder"), std::string::npos) << check(dir);
  EXPECT_NE(check(dir / "adapter" / ".." / "model").find("is the base model folder"),
            std::string::npos);
  // a symbolic link to the model folder is the model folder
  fs::create_directory_symlink(dir / "model", dir / "link");
  EXPECT_NE(check(dir / "link").find("is the base model folder"), std::string::npos);
  EXPECT_EQ(check(dir / "merged"), "");
  EXPECT_EQ(check(dir / "model-merged"), "");  // a name sharing the prefix is apart
  // a protected file: only the file itself
  const std::vector<ProtectedPath> files = {{dir / "data.jsonl", "dataset", "--data", false}};
  EXPECT_NE(error_of([&] {
              check_output_apart(dir / "data.jsonl", "--per-example", files, "x");
            }).find("is the dataset file (--data)"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { check_output_apart(dir / "out.jsonl", "--per-example", files, "x"); }),
            "");
  fs::remove_all(dir);
}

TEST(OutputGuard, ReplaceableOutputNeedsMarkerOrOverwrite) {
  const fs::path dir = fresh_dir("replaceable");
  write(dir / "notes" / "todo.txt", "mine");
  write(dir / "a_file", "mine");
  fs::create_directories(dir / "empty");
  write(dir / "merged" / kOutputMarker, "{\"written_by\": \"dpo merge\"}");
  write(dir / "other" / kOutputMarker, "{\"written_by\": \"dpo export\"}");
  auto check = [&](const fs::path& out, bool overwrite) {
    ReplaceableOutput output;
    output.path = out;
    output.command = "dpo merge";
    output.overwrite = overwrite;
    return error_of([&] { check_replaceable_output(output, {}); });
  };
  EXPECT_NE(check(dir / "notes", false)
                .find("exists, is not empty and was not written by `dpo merge` (no "
                      ".dpo-output.json in it); choose a new folder, or add --overwrite"),
            std::string::npos)
      << check(dir / "notes", false);
  EXPECT_NE(check(dir / "a_file", false).find("exists and is a file not written by `dpo merge`"),
            std::string::npos);
  EXPECT_NE(check(dir / "other", false).find("not written by `dpo merge`"), std::string::npos);
  EXPECT_EQ(check(dir / "empty", false), "");
  EXPECT_EQ(check(dir / "merged", false), "");
  EXPECT_EQ(check(dir / "new", false), "");
  EXPECT_EQ(check(dir / "notes", true), "");
  EXPECT_EQ(check(dir / "a_file", true), "");
  // the current folder and the folders above it: never, even with --overwrite
  in_folder(dir / "notes", [&] {
    EXPECT_NE(check(".", true).find("--output .: is the current folder"), std::string::npos)
        << check(".", true);
    EXPECT_NE(check("..", true).find("--output ..: contains the current folder"),
              std::string::npos);
    EXPECT_NE(check("/", true).find("contains the current folder"), std::string::npos);
  });
  EXPECT_EQ(fs::file_size(dir / "notes" / "todo.txt"), 4u);
  // a file output recognised by the caller's test
  ReplaceableOutput file;
  file.path = dir / "a_file";
  file.command = "dpo export";
  file.is_previous_file = [](const fs::path&) { return true; };
  EXPECT_EQ(error_of([&] { check_replaceable_output(file, {}); }), "");
  fs::remove_all(dir);
}

TEST(OutputGuard, StagedOutputReplacesAtomicallyAndMarksIt) {
  const fs::path dir = fresh_dir("staged");
  write(dir / "out" / "old.txt", "old");
  {
    StagedOutput staged(dir / "out", "dpo merge");
    write(staged.path() / "model.safetensors", "new");
    EXPECT_TRUE(fs::exists(dir / "out" / "old.txt"));  // untouched until commit
    staged.commit();
  }
  EXPECT_FALSE(fs::exists(dir / "out" / "old.txt"));
  EXPECT_EQ(read_file(dir / "out" / "model.safetensors"), "new");
  EXPECT_TRUE(is_previous_output(dir / "out", "dpo merge"));
  EXPECT_FALSE(is_previous_output(dir / "out", "dpo export"));
  {
    StagedOutput failed(dir / "out", "dpo merge");  // destroyed without commit: nothing changes
    write(failed.path() / "half", "x");
  }
  EXPECT_EQ(read_file(dir / "out" / "model.safetensors"), "new");
  size_t entries = 0;
  for (const auto& entry : fs::directory_iterator(dir)) entries += entry.exists();
  EXPECT_EQ(entries, 1u) << "temporaries left next to out/";
  fs::remove_all(dir);
}

TEST(OutputGuard, StaleTemporariesOfDeadProcessesAreCleaned) {
  const fs::path dir = fresh_dir("stale");
  const std::string dead = std::to_string(dead_pid());
  const std::string alive = std::to_string(::getppid());
  // a kill between the two renames of a replacement: the old output aside, the new one unfinished
  write(dir / ("out.old." + dead) / "model.safetensors", "previous");
  write(dir / ("out.tmp." + dead) / "model.safetensors", "half");
  write(dir / ("out.tmp." + alive) / "model.safetensors", "another merge, running");
  write(dir / "outer.tmp.1" / "x", "not ours: another name");
  auto done = remove_stale_temporaries(dir / "out");
  ASSERT_EQ(done.size(), 2u);
  EXPECT_NE(done[0].find("put back out.old." + dead + " as out"), std::string::npos) << done[0];
  EXPECT_EQ(read_file(dir / "out" / "model.safetensors"), "previous");
  EXPECT_FALSE(fs::exists(dir / ("out.tmp." + dead)));
  EXPECT_TRUE(fs::exists(dir / ("out.tmp." + alive)));
  EXPECT_TRUE(fs::exists(dir / "outer.tmp.1"));
  // with the output present, a stale old copy is removed
  write(dir / ("out.old." + dead) / "model.safetensors", "older");
  done = remove_stale_temporaries(dir / "out");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_FALSE(fs::exists(dir / ("out.old." + dead)));
  EXPECT_EQ(read_file(dir / "out" / "model.safetensors"), "previous");
  fs::remove_all(dir);
}

TEST(OutputGuard, AtomicWritesCleanTheirStaleTemporaries) {
  const fs::path dir = fresh_dir("atomic");
  const std::string dead = std::to_string(dead_pid());
  write(dir / ("report.html.tmp." + dead), "half a report");
  write_file_atomic(dir / "report.html", "<html>");
  EXPECT_FALSE(fs::exists(dir / ("report.html.tmp." + dead)));
  EXPECT_EQ(read_file(dir / "report.html"), "<html>");
  fs::remove_all(dir);
}

TEST(OutputGuard, InterruptRemovesTemporariesAndExits) {
  const fs::path dir = fresh_dir("interrupt");
  const pid_t child = ::fork();
  if (child == 0) {
    const InterruptCleanup cleanup;
    StagedOutput staged(dir / "out", "dpo merge");
    write(staged.path() / "shard", "half");
    AtomicFile file(dir / "report.html");
    file.write("half");
    ::raise(SIGINT);
    ::sleep(10);  // the watcher exits the process
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  size_t entries = 0;
  for (const auto& entry : fs::directory_iterator(dir)) entries += entry.exists();
  EXPECT_EQ(entries, 0u) << "an interrupted write left its temporaries";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dpo
