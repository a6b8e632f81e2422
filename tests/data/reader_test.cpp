#include "data/reader.h"

#include <gtest/gtest.h>

#include "data_test_util.h"

namespace dpo {
namespace {

using namespace dpo::testing;

std::vector<RawRow> read_all(const std::vector<std::string>& specs) {
  RowReader reader(specs);
  std::vector<RawRow> rows;
  RawRow row;
  while (reader.next(row)) rows.push_back(row);
  return rows;
}

TEST(Reader, JsonlSkipsBlankLinesAndKnowsLines) {
  fs::path dir = temp_dir("jsonl");
  write_text(dir / "a.jsonl", "{\"x\": 1}\n\n{\"x\": 2}\r\n{\"x\": 3}");
  auto rows = read_all({(dir / "a.jsonl").string()});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].value["x"], 1);
  EXPECT_EQ(rows[1].line, 3);
  EXPECT_EQ(rows[2].line, 4);
  EXPECT_EQ(rows[2].index, 2);
  EXPECT_EQ(rows[2].where(), (dir / "a.jsonl").string() + ":4");
  fs::remove_all(dir);
}

// A row of more than kMaxRowBytes is refused as soon as the reader has that much of it, so that a
// file without newlines (or a binary file) cannot exhaust memory.
TEST(Reader, RowsLongerThanTheLimitAreRefused) {
  fs::path dir = temp_dir("long");
  const std::string huge(kMaxRowBytes + 16, 'x');
  write_text(dir / "a.jsonl", "{\"x\": 1}\n" + huge);
  write_text(dir / "b.json", "[{\"x\": 1},\n \"" + huge + "\"]");
  const std::pair<const char*, const char*> cases[] = {
      {"a.jsonl", "a.jsonl:2: a line longer than 64 MiB; a dataset row per line was expected"},
      {"b.json", "b.json:2: a row longer than 64 MiB; a dataset row was expected"}};
  for (const auto& [name, message] : cases) {
    try {
      read_all({(dir / name).string()});
      ADD_FAILURE() << "no error for " << name;
    } catch (const UserError& e) {
      EXPECT_EQ(std::string(e.what()), (dir / message).string());
    }
  }
  fs::remove_all(dir);
}

// Python dicts (and so TRL and chat templates' tojson) keep a row's key order; so must the rows.
TEST(Reader, RowsKeepTheirKeyOrder) {
  fs::path dir = temp_dir("order");
  write_text(dir / "a.jsonl",
             "{\"rejected\": \"r\", \"prompt\": \"p\", \"chosen\": {\"z\": 1, \"a\": 2}}\n");
  write_text(dir / "b.json", "[{\"b\": 1, \"a\": 2}]");
  auto rows = read_all({(dir / "a.jsonl").string(), (dir / "b.json").string()});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].value.dump(), R"({"rejected":"r","prompt":"p","chosen":{"z":1,"a":2}})");
  EXPECT_EQ(rows[1].value.dump(), R"({"b":1,"a":2})");
  fs::remove_all(dir);
}

TEST(Reader, JsonArrayStreamsElementsWithTheirLines) {
  fs::path dir = temp_dir("array");
  write_text(dir / "a.json", "[\n  {\"x\": \"a,]}\\\"\"},\n  {\"x\": [1, {\"y\": 2}]}\n]\n");
  auto rows = read_all({(dir / "a.json").string()});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].value["x"], "a,]}\"");
  EXPECT_EQ(rows[0].line, 2);
  EXPECT_EQ(rows[1].value["x"][1]["y"], 2);
  EXPECT_EQ(rows[1].line, 3);
  fs::remove_all(dir);
}

TEST(Reader, ObjectOfSplitsPicksNamedOnlyOrTrain) {
  fs::path dir = temp_dir("splits");
  std::string path =
      write_text(dir / "s.json", "{\"test\": [{\"x\": 1}],\n \"train\": [{\"x\": 2}, {\"x\": 3}]}")
          .string();
  auto train = read_all({path});
  ASSERT_EQ(train.size(), 2u);
  EXPECT_EQ(train[0].value["x"], 2);
  EXPECT_EQ(train[0].line, 2);
  auto test = read_all({path + ":test"});
  ASSERT_EQ(test.size(), 1u);
  EXPECT_EQ(test[0].value["x"], 1);
  EXPECT_EQ(user_error_of([&] { read_all({path + ":dev"}); }),
            path + ": no split 'dev' (the file has: test, train)");
  std::string only = write_text(dir / "o.json", "{\"eval\": [{\"x\": 9}]}").string();
  EXPECT_EQ(read_all({only})[0].value["x"], 9);
  std::string two = write_text(dir / "t.json", "{\"a\": [{\"x\": 1}], \"b\": []}").string();
  EXPECT_EQ(user_error_of([&] { read_all({two}); }),
            two + ": object of splits without 'train'; name one as " + two +
                ":SPLIT (the file has: a, b)");
  fs::remove_all(dir);
}

TEST(Reader, JsonlUnderJsonNameIncludingChatRows) {
  fs::path dir = temp_dir("jsonl_as_json");
  write_text(dir / "c.json",
             "{\"chosen\": [{\"role\": \"user\", \"content\": \"hi\"}], \"rejected\": []}\n"
             "{\"chosen\": [], \"rejected\": []}\n");
  auto rows = read_all({(dir / "c.json").string()});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].value["chosen"][0]["content"], "hi");
  fs::remove_all(dir);
}

TEST(Reader, GzipEitherWayAndDirectories) {
  fs::path dir = temp_dir("gz");
  write_gzip(dir / "b.jsonl.gz", "{\"x\": 2}\n{\"x\": 3}\n");
  write_gzip(dir / "c.json.gz", "[{\"x\": 4}]");
  write_text(dir / "a.jsonl", "{\"x\": 1}\n");
  write_text(dir / "notes.txt", "ignored");
  auto rows = read_all({dir.string()});
  ASSERT_EQ(rows.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rows[i].value["x"], i + 1);
  EXPECT_EQ(rows[2].line, 2);
  auto two = read_all({(dir / "a.jsonl").string(), (dir / "c.json.gz").string()});
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].index, 1);
  fs::remove_all(dir);
}

TEST(Reader, BadRowsCarryReasonAndPlace) {
  fs::path dir = temp_dir("bad");
  std::string path =
      write_text(dir / "b.jsonl", "{\"x\": 1}\n{\"x\": \"\xff\"}\n{\"x\": }\n{\"x\": 1e400}\n")
          .string();
  auto rows = read_all({path});
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[3].error_reason, "invalid JSON");  // beyond double's range: not a crash
  EXPECT_EQ(rows[3].error_message, path + ":4: invalid JSON (number overflow parsing '1e400')");
  EXPECT_TRUE(rows[0].ok());
  EXPECT_EQ(rows[1].error_reason, "invalid UTF-8");
  EXPECT_EQ(rows[1].error_message,
            path + ":2: invalid UTF-8 at byte 7 of the row (expected UTF-8 text)");
  EXPECT_EQ(rows[2].error_reason, "invalid JSON");
  EXPECT_NE(rows[2].error_message.find(path + ":3: invalid JSON (syntax error"), std::string::npos)
      << rows[2].error_message;
  fs::remove_all(dir);
}

TEST(Reader, MissingFilesAndMalformedArrays) {
  EXPECT_EQ(user_error_of([] { read_all({"/nonexistent/x.jsonl"}); }),
            "/nonexistent/x.jsonl: dataset not found (expected a file, a directory or FILE:SPLIT)");
  fs::path dir = temp_dir("malformed");
  std::string path = write_text(dir / "m.json", "[{\"x\": 1}\n{\"x\": 2}]").string();
  EXPECT_EQ(user_error_of([&] { read_all({path}); }),
            path + ":2: malformed JSON: expected ',' or ']' between rows");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dpo
