#include "data/gzip.h"

#include <zlib.h>

#include <cstdio>

#include "data/reader.h"
#include "util/error.h"

namespace dpo {

namespace {

constexpr size_t kChunkBytes = 1 << 20;

bool has_gzip_magic(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return false;
  unsigned char magic[2] = {0, 0};
  size_t got = std::fread(magic, 1, 2, file);
  std::fclose(file);
  return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

ByteStream::ByteStream(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw_user_error("{}: dataset file not found (expected a .jsonl, .json or .gz file)",
                     path.string());
  if (!std::filesystem::is_regular_file(path, ec))
    throw_user_error(
        "{}: not a regular file (a device, pipe or socket); a dataset must be a .jsonl, .json or "
        ".gz file, which is read more than once",
        path.string());
  is_gzip_ = has_gzip_magic(path);
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw_user_error("{}: cannot open the dataset file", path.string());
  gzbuffer(file, 1 << 17);
  file_ = file;
}

ByteStream::~ByteStream() {
  if (file_) gzclose(static_cast<gzFile>(file_));
}

size_t ByteStream::read(char* buffer, size_t size) {
  int got = gzread(static_cast<gzFile>(file_), buffer, static_cast<unsigned>(size));
  if (got < 0) {
    int code = 0;
    const char* message = gzerror(static_cast<gzFile>(file_), &code);
    throw_user_error("{}: corrupt gzip data ({})", path_.string(), message ? message : "unknown");
  }
  if (got == 0 && is_gzip_) {
    // zlib reports a stream that stops before its end (the deflate end marker, the CRC-32 and
    // length trailer) only here, as Z_BUF_ERROR: without this check a file cut off at a line
    // boundary would read as a shorter dataset.
    int code = Z_OK;
    gzerror(static_cast<gzFile>(file_), &code);
    if (code == Z_BUF_ERROR)
      throw_user_error(
          "{}: truncated gzip file (it ends before the end of its compressed data and its "
          "checksum; an interrupted download or copy?)",
          path_.string());
  }
  return static_cast<size_t>(got);
}

LineStream::LineStream(const std::filesystem::path& path) : bytes_(path) {}

bool LineStream::refill() {
  if (at_end_) return false;
  buffer_.erase(0, position_);
  position_ = 0;
  size_t old_size = buffer_.size();
  buffer_.resize(old_size + kChunkBytes);
  size_t got = bytes_.read(buffer_.data() + old_size, kChunkBytes);
  buffer_.resize(old_size + got);
  if (got == 0) at_end_ = true;
  return got > 0;
}

bool LineStream::next(std::string& line) {
  while (true) {
    size_t newline = buffer_.find('\n', position_);
    if (newline != std::string::npos) {
      line.assign(buffer_, position_, newline - position_);
      position_ = newline + 1;
      break;
    }
    if (buffer_.size() - position_ > kMaxRowBytes)
      throw_user_error("{}:{}: a line longer than {} MiB; a dataset row per line was expected",
                       bytes_.path().string(), line_number_ + 1, kMaxRowBytes >> 20);
    if (!refill()) {
      if (position_ >= buffer_.size()) return false;
      line.assign(buffer_, position_, std::string::npos);  // last line without '\n'
      position_ = buffer_.size();
      break;
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > kMaxRowBytes)  // also one that ends within the last chunk read
    throw_user_error("{}:{}: a line longer than {} MiB; a dataset row per line was expected",
                     bytes_.path().string(), line_number_ + 1, kMaxRowBytes >> 20);
  ++line_number_;
  return true;
}

CharStream::CharStream(const std::filesystem::path& path) : bytes_(path) {}

bool CharStream::refill() {
  if (at_end_) return false;
  buffer_.resize(kChunkBytes);
  size_t got = bytes_.read(buffer_.data(), kChunkBytes);
  buffer_.resize(got);
  position_ = 0;
  if (got == 0) at_end_ = true;
  return got > 0;
}

int CharStream::peek() {
  if (position_ >= buffer_.size() && !refill()) return -1;
  return static_cast<unsigned char>(buffer_[position_]);
}

int CharStream::get() {
  int c = peek();
  if (c < 0) return c;
  ++position_;
  if (c == '\n') ++line_;
  return c;
}

}  // namespace dpo
