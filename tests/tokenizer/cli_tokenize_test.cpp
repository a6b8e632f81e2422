// `dpo tokenize` end to end (needs the dpo binary: build target `dpo`; skipped when it is absent).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test_helpers.h"

namespace dpo {
namespace {

struct CommandResult {
  int exit_code;
  std::string out, err;
};

CommandResult run_dpo(const std::string& args) {
  auto err_path =
      std::filesystem::temp_directory_path() / ("dpo_tok_err_" + std::to_string(::getpid()));
  std::string command = std::string(DPO_BINARY) + " tokenize " + args + " 2>" + err_path.string();
  CommandResult run{0, "", ""};
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.out.append(buffer, n);
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = test::read_text(err_path.string());
  std::filesystem::remove(err_path);
  return run;
}

class CliTokenize : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(DPO_BINARY)) GTEST_SKIP() << "no dpo binary at " << DPO_BINARY;
    dir_ = test::fixture_path("tokenizers/mistral");
  }
  std::string dir_;
};

TEST_F(CliTokenize, Text) {
  CommandResult run = run_dpo("--tokenizer " + dir_ + " 'Hello world'");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "{\"ids\": [1, 22557, 1526]}\n");
  run = run_dpo("--tokenizer " + dir_ + " --no-special --pieces 'Hello world'");
  EXPECT_EQ(run.out, "{\"ids\": [22557, 1526], \"tokens\": [\"\u2581Hello\",\"\u2581world\"]}\n");
}

TEST_F(CliTokenize, FileOfRecords) {
  auto path = std::filesystem::temp_directory_path() /
              ("dpo_tok_in_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(path)
      << "{\"text\": \"Hello world\"}\n{\"text\": \"\\n\\nHuman: hi\"}\n{\"text\": \"\"}\n";
  CommandResult run = run_dpo("--tokenizer " + dir_ + " --file " + path.string());
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out,
            "{\"ids\": [1, 22557, 1526]}\n{\"ids\": [1, 28705, 13, 13, 28769, 6366, 28747, "
            "12014]}\n{\"ids\": [1]}\n");
  std::ofstream(path) << "{\"text\": \"ok\"}\n{\"txt\": \"no\"}\n";
  run = run_dpo("--tokenizer " + dir_ + " --file " + path.string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find(path.string() + ":2: expected a record {\"text\": \"...\"}"),
            std::string::npos)
      << run.err;
  std::ofstream(path) << "{\"text\": \"ok\"}\n{oops\n";
  run = run_dpo("--tokenizer " + dir_ + " --file " + path.string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find(path.string() + ":2: not valid JSON"), std::string::npos) << run.err;
  std::filesystem::remove(path);
}

TEST_F(CliTokenize, UsageErrors) {
  CommandResult run = run_dpo("--tokenizer " + dir_);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("give a TEXT or --file FILE.jsonl"), std::string::npos) << run.err;
  run = run_dpo("--tokenizer /nonexistent 'x'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("/nonexistent: folder does not exist"), std::string::npos) << run.err;
  run = run_dpo("--tokenizer " + dir_ + " --file /nonexistent.jsonl");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("/nonexistent.jsonl: cannot open the file"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace dpo
