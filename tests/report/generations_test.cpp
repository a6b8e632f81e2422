#include "report/generations.h"

#include <gtest/gtest.h>

#include <fstream>

#include "report/config_text.h"
#include "report/test_dir.h"
#include "util/error.h"

namespace dpo::report {
namespace {

using testing::TestDir;

TEST(Generations, WriteReadRoundTrip) {
  TestDir dir;
  append_generation(dir.path(), {"before", "The capital of Ireland is", " Cork.\n\"quoted\"", 0});
  append_generation(dir.path(), {"after", "The capital of Ireland is", " Dublin.", std::nullopt});
  EXPECT_EQ(read_file(dir.path() / "generations.jsonl"),
            "{\"phase\":\"before\",\"prompt\":\"The capital of Ireland is\",\"completion\":\" "
            "Cork.\\n\\\"quoted\\\"\",\"step\":0}\n"
            "{\"phase\":\"after\",\"prompt\":\"The capital of Ireland is\",\"completion\":\" "
            "Dublin.\"}\n");
  auto rows = read_generations(dir.path() / "generations.jsonl");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].completion, " Cork.\n\"quoted\"");
  EXPECT_EQ(rows[0].step, 0);
  EXPECT_FALSE(rows[1].step.has_value());
  clear_generations(dir.path());
  EXPECT_FALSE(fs::exists(dir.path() / "generations.jsonl"));
  clear_generations(dir.path());  // nothing to remove: fine
}

TEST(Generations, InvalidUtf8IsReplacedNotFatal) {
  std::string line = generation_to_json({"after", "p", std::string("caf\xC3", 4), std::nullopt});
  EXPECT_NE(line.find("caf\xEF\xBF\xBD\""), std::string::npos) << line;  // U+FFFD
}

TEST(Generations, ErrorsNameFileAndLine) {
  TestDir dir;
  fs::path path = dir.path() / "generations.jsonl";
  auto error_for = [&](const std::string& text) -> std::string {
    std::ofstream(path) << text;
    try {
      read_generations(path);
    } catch (const UserError& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string ok = "{\"phase\":\"before\",\"prompt\":\"p\",\"completion\":\"c\"}\n";
  const std::string where = path.string() + ":2: ";
  EXPECT_EQ(error_for(ok + "{\"phase\":\"after\",\"prompt\":\"p\"}\n"),
            where + "missing \"completion\"");
  EXPECT_EQ(error_for(ok + "{\"phase\":1,\"prompt\":\"p\",\"completion\":\"c\"}\n"),
            where + "\"phase\" must be a string, got number");
  EXPECT_EQ(
      error_for(ok + "{\"phase\":\"a\",\"prompt\":\"p\",\"completion\":\"c\",\"step\":\"1\"}\n"),
      where + "\"step\" must be an integer, got \"1\"");
  EXPECT_EQ(error_for(ok + "[]\n").rfind(where + "expected a JSON object", 0), 0u);
  EXPECT_EQ(error_for(ok + "{oops\n").rfind(where + "not valid JSON", 0), 0u);
}

TEST(Generations, TableHasBeforeAfterFirstAndPromptsInOrder) {
  std::vector<Generation> rows = {{"after", "q1", "a1", {}},
                                  {"step-50", "q2", "m2", {}},
                                  {"before", "q2", "b2", {}},
                                  {"before", "q1", "b1", {}}};
  GenerationTable table = tabulate_generations(rows);
  EXPECT_EQ(table.phases, (std::vector<std::string>{"before", "after", "step-50"}));
  EXPECT_EQ(table.prompts, (std::vector<std::string>{"q1", "q2"}));
  ASSERT_EQ(table.cells.size(), 2u);
  EXPECT_EQ(table.cells[0][0], "b1");
  EXPECT_EQ(table.cells[0][1], "a1");
  EXPECT_EQ(table.cells[1][0], "b2");
  EXPECT_FALSE(table.cells[1][1].has_value());
  EXPECT_EQ(table.cells[1][2], "m2");
}

TEST(ConfigText, TopLevelKeysListsQuotesAndComments) {
  auto entries = parse_config_text(
      "# comment\n"
      "model_name_or_path: models/tiny # trailing comment\n"
      "dataset: \"data/a#b.jsonl\"\n"
      "loss_type: [sigmoid, hinge]\n"
      "lora_target_modules:\n"
      "  - q_proj\n"
      "  - 'v_proj'\n"
      "nested:\n"
      "  inner: 1\n"
      "empty:\n"
      "beta: 0.1\r\n");
  EXPECT_EQ(config_value(entries, "model_name_or_path"), "models/tiny");
  EXPECT_EQ(config_value(entries, "dataset"), "data/a#b.jsonl");
  EXPECT_EQ(config_value(entries, "loss_type"), "[sigmoid, hinge]");
  EXPECT_EQ(config_value(entries, "lora_target_modules"), "[q_proj, v_proj]");
  EXPECT_EQ(config_value(entries, "nested"), "");
  EXPECT_EQ(config_value(entries, "empty"), "");
  EXPECT_EQ(config_value(entries, "beta"), "0.1");
  EXPECT_FALSE(config_value(entries, "inner").has_value());
  EXPECT_EQ(entries.size(), 7u);
}

}  // namespace
}  // namespace dpo::report
