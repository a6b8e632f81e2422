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

// A line a little over the limit whose newline falls in the last chunk read used to pass.
TEST(Reader, JsonlLineJustOverTheLimitIsRefused) {
  fs::path dir = temp_dir("long_line");
  const std::string row = "{\"x\": \"" + std::string(kMaxRowBytes + 1000, 'x') + "\"}";
  write_text(dir / "a.jsonl", "{\"x\": 1}\n" + row + "\n{\"x\": 3}\n");
  write_gzip(dir / "b.jsonl.gz", "{\"x\": 1}\n" + row + "\n{\"x\": 3}\n");
  for (const char* name : {"a.jsonl", "b.jsonl.gz"}) {
    try {
      read_all({(dir / name).string()});
      ADD_FAILURE() << "no error for " << name;
    } catch (const UserError& e) {
      EXPECT_EQ(std::string(e.what()), (dir / name).string() +
                                           ":2: a line longer than 64 MiB; a dataset row per line "
                                           "was expected");
    }
  }
  fs::remove_all(dir);
}

// The gzip bytes of `text`, compressed with a full flush after `flush_after` bytes of it (a point
// where a cut leaves whole lines).
std::string gzip_bytes(const std::string& text, size_t flush_after, size_t* flush_offset) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(text.size() + 1024, '\0');
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(flush_after);
  deflate(&z, Z_FULL_FLUSH);
  *flush_offset = z.total_out;
  z.avail_in = static_cast<uInt>(text.size() - flush_after);
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A .gz cut off (at a line boundary, inside a row, or just before its CRC-32/length trailer) used
// to read as a shorter dataset, or as a row of invalid JSON.
TEST(Reader, TruncatedGzipIsNamedAsTruncated) {
  fs::path dir = temp_dir("truncated_gz");
  const std::string text = "{\"x\": 1}\n{\"x\": 2}\n{\"x\": 3}\n";
  size_t flush_offset = 0;
  const std::string gz = gzip_bytes(text, 9, &flush_offset);  // flush after the first line
  write_text(dir / "whole.jsonl.gz", gz);
  EXPECT_EQ(read_all({(dir / "whole.jsonl.gz").string()}).size(), 3u);
  write_text(dir / "lines.jsonl.gz", gz.substr(0, flush_offset));        // exactly one line
  write_text(dir / "no_trailer.jsonl.gz", gz.substr(0, gz.size() - 8));  // every byte of data
  write_text(dir / "mid_row.json.gz",
             gzip_bytes("[{\"x\": 1}, {\"x\": 2}]", 14, &flush_offset).substr(0, flush_offset));
  for (const char* name : {"lines.jsonl.gz", "no_trailer.jsonl.gz", "mid_row.json.gz"}) {
    try {
      read_all({(dir / name).string()});
      ADD_FAILURE() << "no error for " << name;
    } catch (const UserError& e) {
      EXPECT_EQ(std::string(e.what()),
                (dir / name).string() +
                    ": truncated gzip file (it ends before the end of its compressed data and its "
                    "checksum; an interrupted download or copy?)");
    }
  }
  // A damaged byte: the CRC-32 check fails.
  std::string damaged = gz;
  damaged[damaged.size() - 6] ^= 0x55;
  write_text(dir / "damaged.jsonl.gz", damaged);
  try {
    read_all({(dir / "damaged.jsonl.gz").string()});
    ADD_FAILURE() << "no error for a damaged checksum";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt gzip data"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// A device or a pipe is no dataset file, and "not found" would mislead.
TEST(Reader, DevicesAndPipesAreNamedAsSuch) {
  try {
    read_all({"/dev/null"});
    ADD_FAILURE() << "no error for /dev/null";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "/dev/null: not a regular file (a device, pipe or socket); a dataset must be a "
              ".jsonl, .json or .gz file, which is read more than once");
  }
}

// A row nested absurdly deep is a bad row with its place, not a crash.
TEST(Reader, DeeplyNestedRowIsABadRow) {
  fs::path dir = temp_dir("deep");
  write_text(dir / "a.jsonl",
             "{\"x\": 1}\n{\"x\": " + std::string(100000, '[') + std::string(100000, ']') + "}\n");
  auto rows = read_all({(dir / "a.jsonl").string()});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].ok());
  EXPECT_EQ(rows[1].error_reason, "nested too deeply");
  EXPECT_NE(rows[1].error_message.find("a.jsonl:2: JSON nested deeper than 512 levels"),
            std::string::npos)
      << rows[1].error_message;
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
