#include "data/reader.h"

#include <algorithm>

#include "data/gzip.h"
#include "util/error.h"
#include "util/json_depth.h"
#include "util/strings.h"

namespace dpo {

namespace fs = std::filesystem;
using json = RowJson;

// ---------------------------------------------------------------- specs

namespace {

std::string strip_gz(const std::string& name) {
  return ends_with(name, ".gz") ? name.substr(0, name.size() - 3) : name;
}

bool is_dataset_file_name(const std::string& name) {
  std::string base = strip_gz(name);
  return ends_with(base, ".jsonl") || ends_with(base, ".json");
}

}  // namespace

std::vector<DatasetFile> expand_dataset_specs(const std::vector<std::string>& specs) {
  if (specs.empty())
    throw_user_error("no dataset given (expected a file, a directory or FILE:SPLIT)");
  std::vector<DatasetFile> files;
  for (const std::string& spec : specs) {
    fs::path path(spec);
    std::string split;
    if (!fs::exists(path)) {
      size_t colon = spec.rfind(':');
      if (colon != std::string::npos && colon > 0 && fs::is_regular_file(spec.substr(0, colon))) {
        path = spec.substr(0, colon);
        split = spec.substr(colon + 1);
      } else {
        throw_user_error("{}: dataset not found (expected a file, a directory or FILE:SPLIT)",
                         spec);
      }
    }
    if (fs::is_directory(path)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::directory_iterator(path))
        if (entry.is_regular_file() && is_dataset_file_name(entry.path().filename().string()))
          found.push_back(entry.path());
      std::sort(found.begin(), found.end());
      if (found.empty())
        throw_user_error("{}: directory holds no .jsonl, .json, .jsonl.gz or .json.gz file", spec);
      for (auto& p : found) files.push_back({p, ""});
    } else {
      files.push_back({path, split});
    }
  }
  return files;
}

// ---------------------------------------------------------------- JSON scanning

namespace {

void skip_whitespace(CharStream& in) {
  while (true) {
    int c = in.peek();
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      in.get();
    } else {
      return;
    }
  }
}

[[noreturn]] void malformed(const fs::path& path, int64_t line, const std::string& what) {
  throw_user_error("{}:{}: malformed JSON: {}", path.string(), line, what);
}

void check_row_size(const std::string& text, const fs::path& path, int64_t line) {
  if (text.size() > kMaxRowBytes)
    throw_user_error("{}:{}: a row longer than {} MiB; a dataset row was expected", path.string(),
                     line, kMaxRowBytes >> 20);
}

// Reads one JSON string (opening quote peeked), appending its raw text to `out` unless null.
void read_string_raw(CharStream& in, const fs::path& path, std::string* out) {
  int64_t start_line = in.line();
  auto keep = [&](int c) {
    if (!out) return;
    out->push_back(static_cast<char>(c));
    check_row_size(*out, path, start_line);
  };
  keep(in.get());  // '"'
  while (true) {
    int c = in.get();
    if (c < 0) malformed(path, start_line, "unterminated string");
    keep(c);
    if (c == '\\') {
      int escaped = in.get();
      if (escaped < 0) malformed(path, start_line, "unterminated string");
      keep(escaped);
    } else if (c == '"') {
      return;
    }
  }
}

// Reads one JSON value (object, array, string or scalar), its raw text into `out` unless null
// (skipping a whole split keeps nothing in memory).
void read_value_raw(CharStream& in, const fs::path& path, std::string* out) {
  if (out) out->clear();
  int64_t start_line = in.line();
  int depth = 0;
  bool empty = true;
  while (true) {
    int c = in.peek();
    if (c < 0) {
      if (depth > 0 || empty) malformed(path, start_line, "unexpected end of file");
      return;
    }
    if (c == '"') {
      read_string_raw(in, path, out);
      empty = false;
      if (depth == 0) return;
      continue;
    }
    if (depth == 0 && !empty &&
        (c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\r' || c == '\t'))
      return;
    if (depth == 0 && empty && (c == ',' || c == ']' || c == '}' || c == ':'))
      malformed(path, in.line(), fmt::format("unexpected '{}'", static_cast<char>(c)));
    in.get();
    empty = false;
    if (out) {
      out->push_back(static_cast<char>(c));
      check_row_size(*out, path, start_line);
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      --depth;
      if (depth == 0) return;
    }
  }
}

// Reads an object key (a JSON string) and the ':' after it.
std::string read_key(CharStream& in, const fs::path& path) {
  skip_whitespace(in);
  if (in.peek() != '"') malformed(path, in.line(), "expected a key string");
  std::string raw;
  read_string_raw(in, path, &raw);
  skip_whitespace(in);
  if (in.get() != ':') malformed(path, in.line(), "expected ':' after a key");
  skip_whitespace(in);
  const auto line = in.line();
  try {
    return json::parse(raw).get<std::string>();
  } catch (const json::exception&) {  // e.g. invalid UTF-8 or a bad escape in the key
    malformed(path, line, "an object key is not a valid JSON string");
  }
}

// Offset of the first byte that breaks UTF-8 (text.size() when none does).
size_t first_invalid_utf8_byte(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (length == 0 || i + length > text.size() || !is_valid_utf8(text.substr(i, length))) return i;
    i += length;
  }
  return i;
}

// Fills a RawRow from the raw text of one row.
void parse_row_text(const std::string& text, RawRow& row) {
  row.value = json();
  row.error_reason.clear();
  row.error_message.clear();
  if (!is_valid_utf8(text)) {
    row.error_reason = "invalid UTF-8";
    row.error_message = fmt::format("{}: invalid UTF-8 at byte {} of the row (expected UTF-8 text)",
                                    row.where(), first_invalid_utf8_byte(text));
    return;
  }
  if (std::string problem = json_depth_problem(text); !problem.empty()) {
    row.error_reason = "nested too deeply";
    row.error_message = fmt::format("{}: {}", row.where(), problem);
    return;
  }
  try {
    row.value = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for 1e999
    row.error_reason = "invalid JSON";
    std::string what = e.what();
    size_t cut = what.find("syntax error");
    if (cut == std::string::npos && what.find("] ") != std::string::npos) cut = what.find("] ") + 2;
    row.error_message = fmt::format("{}: invalid JSON ({})", row.where(),
                                    cut == std::string::npos ? what : what.substr(cut));
  }
}

}  // namespace

// ---------------------------------------------------------------- sources

class RowSource {
 public:
  virtual ~RowSource() = default;
  // Next row (value or error, file and line filled); false at the end of the file.
  virtual bool next(RawRow& row) = 0;
};

namespace {

class JsonlSource : public RowSource {
 public:
  explicit JsonlSource(const fs::path& path) : path_(path), lines_(path) {}
  bool next(RawRow& row) override {
    while (lines_.next(line_)) {
      if (trim(line_).empty()) continue;
      row.file = path_.string();
      row.line = lines_.line_number();
      parse_row_text(line_, row);
      return true;
    }
    return false;
  }

 private:
  fs::path path_;
  LineStream lines_;
  std::string line_;
};

// Streams the elements of a JSON array; the stream is positioned just after its '['.
class JsonArraySource : public RowSource {
 public:
  JsonArraySource(const fs::path& path, std::unique_ptr<CharStream> in)
      : path_(path), in_(std::move(in)) {}
  bool next(RawRow& row) override {
    if (done_) return false;
    skip_whitespace(*in_);
    if (!first_) {
      int c = in_->get();
      if (c == ']') return finish();
      if (c != ',') malformed(path_, in_->line(), "expected ',' or ']' between rows");
      skip_whitespace(*in_);
    } else if (in_->peek() == ']') {
      in_->get();
      return finish();
    }
    first_ = false;
    row.file = path_.string();
    row.line = in_->line();
    read_value_raw(*in_, path_, &text_);
    parse_row_text(text_, row);
    return true;
  }

 private:
  bool finish() {
    done_ = true;
    return false;
  }
  fs::path path_;
  std::unique_ptr<CharStream> in_;
  std::string text_;
  bool first_ = true;
  bool done_ = false;
};

enum class FileKind { kJsonl, kJsonArray, kJsonSplits };

// JSONL, a JSON array, or a JSON object of splits. `.jsonl` is always JSONL. Otherwise the first
// character decides: '[' is an array; '{' is an object of splits when its first value is an array
// of objects that are not chat messages (no "role"), else the first row of a JSONL file (HF
// `to_json` writes JSONL under a .json name).
FileKind detect_file_kind(const fs::path& path) {
  std::string name = strip_gz(path.filename().string());
  if (ends_with(name, ".jsonl")) return FileKind::kJsonl;
  CharStream in(path);
  skip_whitespace(in);
  int c = in.peek();
  if (c == '[') return FileKind::kJsonArray;
  if (c != '{') return FileKind::kJsonl;  // empty, or rows are reported as invalid JSON
  in.get();
  skip_whitespace(in);
  if (in.peek() != '"') return FileKind::kJsonl;
  read_key(in, path);
  if (in.peek() != '[') return FileKind::kJsonl;
  in.get();
  skip_whitespace(in);
  if (in.peek() != '{') return in.peek() == ']' ? FileKind::kJsonSplits : FileKind::kJsonl;
  std::string first;
  read_value_raw(in, path, &first);
  if (!json_depth_problem(first).empty()) return FileKind::kJsonl;  // its rows say why
  json element = json::parse(first, nullptr, false);
  if (element.is_object() && !element.contains("role")) return FileKind::kJsonSplits;
  return FileKind::kJsonl;
}

std::vector<std::string> list_splits(const fs::path& path) {
  CharStream in(path);
  skip_whitespace(in);
  in.get();  // '{'
  std::vector<std::string> names;
  while (true) {
    skip_whitespace(in);
    if (in.peek() == '}') break;
    names.push_back(read_key(in, path));
    read_value_raw(in, path, nullptr);
    skip_whitespace(in);
    int c = in.get();
    if (c == '}') break;
    if (c != ',') malformed(path, in.line(), "expected ',' or '}' between splits");
  }
  return names;
}

std::string choose_split(const DatasetFile& file, const std::vector<std::string>& names) {
  auto has = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  if (!file.split.empty()) {
    if (!has(file.split))
      throw_user_error("{}: no split '{}' (the file has: {})", file.path.string(), file.split,
                       join(names, ", "));
    return file.split;
  }
  if (names.size() == 1) return names[0];
  if (has("train")) return "train";
  throw_user_error("{}: object of splits without 'train'; name one as {}:SPLIT (the file has: {})",
                   file.path.string(), file.path.string(), join(names, ", "));
}

// Positions a fresh stream just after the '[' of split `name`.
std::unique_ptr<CharStream> open_split(const fs::path& path, const std::string& name) {
  auto in = std::make_unique<CharStream>(path);
  skip_whitespace(*in);
  in->get();  // '{'
  while (true) {
    std::string key = read_key(*in, path);
    if (key == name) {
      if (in->get() != '[')
        malformed(path, in->line(), "split '" + name + "' is not an array of rows");
      return in;
    }
    read_value_raw(*in, path, nullptr);
    skip_whitespace(*in);
    if (in->get() != ',') malformed(path, in->line(), "expected ',' between splits");
  }
}

std::unique_ptr<RowSource> open_source(const DatasetFile& file) {
  FileKind kind = detect_file_kind(file.path);
  if (!file.split.empty() && kind != FileKind::kJsonSplits)
    throw_user_error("{}: split '{}' requested but the file is not a JSON object of splits",
                     file.path.string(), file.split);
  if (kind == FileKind::kJsonl) return std::make_unique<JsonlSource>(file.path);
  if (kind == FileKind::kJsonArray) {
    auto in = std::make_unique<CharStream>(file.path);
    skip_whitespace(*in);
    in->get();  // '['
    return std::make_unique<JsonArraySource>(file.path, std::move(in));
  }
  std::string split = choose_split(file, list_splits(file.path));
  return std::make_unique<JsonArraySource>(file.path, open_split(file.path, split));
}

}  // namespace

// ---------------------------------------------------------------- reader

RowReader::RowReader(const std::vector<std::string>& specs) : files_(expand_dataset_specs(specs)) {}

RowReader::~RowReader() = default;

bool RowReader::next(RawRow& row) {
  while (file_index_ < files_.size()) {
    if (!source_) source_ = open_source(files_[file_index_]);
    if (source_->next(row)) {
      row.index = rows_read_++;
      return true;
    }
    source_.reset();
    ++file_index_;
  }
  return false;
}

}  // namespace dpo
