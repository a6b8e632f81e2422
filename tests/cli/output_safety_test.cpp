// Commands never destroy what they did not write (util/output_guard.h), through the binary:
// `dpo merge` refuses outputs it could destroy and leaves them as they were, replaces only its
// own previous outputs (or with --overwrite), and cleans up after killed runs; `dpo report` too.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(DPO_FIXTURES);

struct Exec {
  int status = -1;
  std::string err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

fs::path fresh_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_output_safety_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Runs `dpo ARGS` in `cwd`.
Exec run_dpo(const fs::path& cwd, const std::string& arguments) {
  const fs::path err =
      fs::temp_directory_path() / ("dpo_output_safety_" + std::to_string(::getpid()) + ".stderr");
  std::string command = "cd '" + cwd.string() + "' && " + std::string(DPO_BINARY) + " " +
                        arguments + " > /dev/null 2> '" + err.string() + "'";
  int raw = std::system(command.c_str());
  Exec exec;
  if (WIFEXITED(raw)) exec.status = WEXITSTATUS(raw);
  exec.err = slurp(err);
  return exec;
}

// Every file under `dir` with its contents, to compare before and after.
std::string snapshot(const fs::path& dir) {
  std::string out;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file())
      out +=
          fs::relative(entry.path(), dir).string() + ":" + std::to_string(entry.file_size()) + "\n";
  return out;
}

long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

// A working folder holding copies of the fixture Llama (model/) and its adapter (adapter/).
fs::path merge_inputs(const std::string& name) {
  const fs::path dir = fresh_dir(name);
  fs::copy(kFixtures / "hf/llama/model", dir / "model", fs::copy_options::recursive);
  fs::copy(kFixtures / "hf/llama/adapter", dir / "adapter", fs::copy_options::recursive);
  return dir;
}

const std::string kMergeInputs = "merge --threads 1 --model model --adapter adapter";

TEST(OutputSafety, MergeRefusesOutputsItCouldDestroyAndTouchesNothing) {
  const fs::path dir = merge_inputs("refuse");
  fs::create_directories(dir / "notes");
  std::ofstream(dir / "notes" / "todo.txt") << "mine\n";
  std::ofstream(dir / "a_file") << "mine\n";
  const std::string before = snapshot(dir);
  for (const char* output :
       {".", "adapter", "model", "adapter/merged", "model/sub", "notes", "a_file", ".."}) {
    SCOPED_TRACE(std::string("--output ") + output);
    Exec merge = run_dpo(dir, kMergeInputs + " --output " + output);
    EXPECT_EQ(merge.status, 1) << merge.err;
    EXPECT_NE(merge.err.find(std::string("error: --output ") + output + ": "), std::string::npos)
        << merge.err;
    EXPECT_EQ(snapshot(dir), before);
  }
  // in a subfolder: the current folder itself, even with --overwrite
  Exec cwd = run_dpo(dir / "notes",
                     "merge --threads 1 --model ../model --adapter ../adapter "
                     "--output . --overwrite");
  EXPECT_EQ(cwd.status, 1);
  EXPECT_NE(cwd.err.find("is the current folder"), std::string::npos) << cwd.err;
  EXPECT_EQ(snapshot(dir), before);
  fs::remove_all(dir);
}

TEST(OutputSafety, MergeReplacesItsOwnOutputOrWithOverwrite) {
  const fs::path dir = merge_inputs("replace");
  Exec first = run_dpo(dir, kMergeInputs + " --output merged");
  ASSERT_EQ(first.status, 0) << first.err;
  EXPECT_TRUE(fs::exists(dir / "merged" / ".dpo-output.json"));
  EXPECT_TRUE(fs::exists(dir / "merged" / "model.safetensors"));
  Exec again = run_dpo(dir, kMergeInputs + " --output merged --dtype bf16");
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(slurp(dir / "merged" / "config.json").find("bfloat16"), std::string::npos);

  fs::create_directories(dir / "notes");
  std::ofstream(dir / "notes" / "todo.txt") << "mine\n";
  Exec overwrite = run_dpo(dir, kMergeInputs + " --output notes --overwrite");
  ASSERT_EQ(overwrite.status, 0) << overwrite.err;
  EXPECT_FALSE(fs::exists(dir / "notes" / "todo.txt"));
  EXPECT_TRUE(fs::exists(dir / "notes" / "model.safetensors"));
  // nothing but the outputs and the inputs remains
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"adapter", "merged", "model", "notes"}));
  fs::remove_all(dir);
}

TEST(OutputSafety, MergeRecoversFromAKilledMerge) {
  const fs::path dir = merge_inputs("recover");
  Exec first = run_dpo(dir, kMergeInputs + " --output merged");
  ASSERT_EQ(first.status, 0) << first.err;
  // What a SIGKILL between the two renames of a replacement leaves: the previous output moved
  // aside, the new one unfinished, no merged/ at all.
  const std::string pid = std::to_string(dead_pid());
  fs::rename(dir / "merged", dir / ("merged.old." + pid));
  fs::create_directories(dir / ("merged.tmp." + pid));
  std::ofstream(dir / ("merged.tmp." + pid) / "model.safetensors") << "half";
  // The output counts as missing, so the merge goes ahead; it first puts the old one back, then
  // replaces it, and no temporary remains.
  Exec next = run_dpo(dir, kMergeInputs + " --output merged");
  ASSERT_EQ(next.status, 0) << next.err;
  EXPECT_NE(next.err.find("put back merged.old." + pid + " as merged"), std::string::npos)
      << next.err;
  EXPECT_NE(next.err.find("removed merged.tmp." + pid), std::string::npos) << next.err;
  EXPECT_FALSE(fs::exists(dir / ("merged.old." + pid)));
  EXPECT_FALSE(fs::exists(dir / ("merged.tmp." + pid)));
  EXPECT_TRUE(fs::exists(dir / "merged" / ".dpo-output.json"));
  fs::remove_all(dir);
}

TEST(OutputSafety, ReportCleansTheTemporaryOfAKilledReport) {
  const fs::path dir = fresh_dir("report");
  fs::copy(kFixtures / "report/dpo_run", dir / "run", fs::copy_options::recursive);
  const std::string stale = "report.html.tmp." + std::to_string(dead_pid());
  std::ofstream(dir / "run" / stale) << "<html>half";
  Exec report = run_dpo(dir, "report run");
  ASSERT_EQ(report.status, 0) << report.err;
  EXPECT_TRUE(fs::exists(dir / "run" / "report.html"));
  EXPECT_FALSE(fs::exists(dir / "run" / stale));
  fs::remove_all(dir);
}

}  // namespace
