// Dataset readers: JSONL, JSON (an array of rows, or an object of splits such as
// {"train": [...], "test": [...]}), each plain or gzip-compressed, from several files or a
// directory. Rows stream one at a time: memory stays proportional to what the caller keeps.
// Plain C++ (nlohmann::json, zlib), no libtorch.
//
// A dataset spec is a path, optionally followed by ":SPLIT" for JSON objects of splits
// ("hh.json:test"). A directory stands for its *.jsonl, *.json (and .gz) files in name order.
// Without a split name, an object of splits gives its only split, else its "train" split.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace dpo {

// The longest row accepted (a JSONL line, an element of a JSON array): anything longer is no
// dataset row (a binary file, a file without newlines), and reading it whole could exhaust memory.
constexpr size_t kMaxRowBytes = size_t{64} << 20;

// A row's JSON. Insertion-ordered, as Python dicts (and so TRL) keep it: a chat template's tojson
// or items() then sees the keys in the file's order, not sorted.
using RowJson = nlohmann::ordered_json;

// One row as read, before any format is applied. A row that could not be read (invalid JSON,
// invalid UTF-8) carries error_reason/error_message instead of a value, so that the caller
// decides between failing and dropping it (drop_invalid_rows).
struct RawRow {
  RowJson value;
  std::string file;
  int64_t line = 0;   // 1-based line where the row starts
  int64_t index = 0;  // 0-based position over all files of the reader
  std::string error_reason;
  std::string error_message;

  std::string where() const { return file + ":" + std::to_string(line); }
  bool ok() const { return error_reason.empty(); }
};

// One input file after expanding specs.
struct DatasetFile {
  std::filesystem::path path;
  std::string split;  // requested split ("" = default rule)
};

// Expands specs (files, directories, "file.json:split") into files. UserError naming the spec
// when nothing matches.
std::vector<DatasetFile> expand_dataset_specs(const std::vector<std::string>& specs);

class RowSource;  // one open file (reader.cpp)

// Streams the rows of every file in order.
class RowReader {
 public:
  explicit RowReader(const std::vector<std::string>& specs);
  ~RowReader();
  // Next row; false after the last row of the last file.
  bool next(RawRow& row);
  const std::vector<DatasetFile>& files() const { return files_; }

 private:
  std::vector<DatasetFile> files_;
  size_t file_index_ = 0;
  int64_t rows_read_ = 0;
  std::unique_ptr<RowSource> source_;
};

}  // namespace dpo
