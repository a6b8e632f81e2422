// Byte streams over dataset files: plain or gzip-compressed (detected from the magic bytes, not
// the name), read in chunks so that a file of any size streams in constant memory.
// Plain C++ (zlib), no libtorch.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>

namespace dpo {

// Reads a file in order, decompressing gzip transparently. UserError naming the path when the
// file cannot be opened or its compressed data is corrupt.
class ByteStream {
 public:
  explicit ByteStream(const std::filesystem::path& path);
  ~ByteStream();
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  // Reads up to `size` bytes into `buffer`; returns 0 at the end of the file.
  size_t read(char* buffer, size_t size);
  bool is_gzip() const { return is_gzip_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  void* file_ = nullptr;  // gzFile (reads plain files unchanged)
  bool is_gzip_ = false;
};

// Splits a ByteStream into lines ('\n', a trailing '\r' removed), counting them from 1.
class LineStream {
 public:
  explicit LineStream(const std::filesystem::path& path);
  // Next line into `line`; false at the end of the file.
  bool next(std::string& line);
  int64_t line_number() const { return line_number_; }  // of the line last returned
  bool is_gzip() const { return bytes_.is_gzip(); }

 private:
  bool refill();
  ByteStream bytes_;
  std::string buffer_;
  size_t position_ = 0;
  bool at_end_ = false;
  int64_t line_number_ = 0;
};

// Reads one character at a time (with a line counter) for the streaming JSON scanner.
class CharStream {
 public:
  explicit CharStream(const std::filesystem::path& path);
  // -1 at the end of the file.
  int peek();
  int get();
  int64_t line() const { return line_; }  // 1-based line of the next character

 private:
  bool refill();
  ByteStream bytes_;
  std::string buffer_;
  size_t position_ = 0;
  bool at_end_ = false;
  int64_t line_ = 1;
};

}  // namespace dpo
