// Inputs found by fuzz/data_rows_fuzz.cpp that once crashed the dataset reader; each must now
// read or raise UserError.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "data/reader.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace {

// Reads every row of `path`; returns the UserError message ("" when all rows were read).
std::string read_all(const fs::path& path) {
  try {
    dpo::RowReader reader({path.string()});
    dpo::RawRow row;
    while (reader.next(row)) {
    }
  } catch (const dpo::UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// A JSON object of splits whose key holds invalid UTF-8 ("tr\xa3in"): the key's JSON parse error
// escaped as a nlohmann exception (an internal error) instead of a message naming file:line.
TEST(ReaderFuzzRegression, SplitKeyWithInvalidUtf8IsAUserError) {
  const fs::path path =
      fs::path(DPO_SOURCE_DIR) / "tests/data/fuzz_regressions/splits_key_invalid_utf8.json";
  const std::string message = read_all(path);
  EXPECT_NE(message.find("splits_key_invalid_utf8.json:1: malformed JSON: an object key is not a "
                         "valid JSON string"),
            std::string::npos)
      << message;
}
