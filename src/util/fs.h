// Filesystem helpers. Every output is written atomically: temp file, fsync, rename.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace dpo {

namespace fs = std::filesystem;

// Reads a whole (small) file; UserError naming the path if it cannot.
std::string read_file(const fs::path& path);

// A file written atomically: the bytes go to `path.tmp.<pid>`; commit() fsyncs it and renames it
// onto `path`. Destroyed without commit() (an error, an exception), it removes the temporary file,
// so a failed write (a full disk, EFBIG past a file size limit) leaves the old `path` or nothing.
// Errors are UserErrors naming `path` and the system's reason.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  void commit();

 private:
  fs::path path_;
  fs::path tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `contents` to `path` atomically: `path.tmp.<pid>`, fsync, rename, fsync of the directory.
// A kill at any moment leaves either the old file or the new one, never a partial one.
void write_file_atomic(const fs::path& path, std::string_view contents);

// fsync a file or directory by path (best effort for directories).
void fsync_path(const fs::path& path);

// Creates `dir` (and parents); UserError naming it if it exists as a file or cannot be created.
void ensure_directory(const fs::path& dir);

// Replaces directory `final_dir` by the fully written `tmp_dir` (rename; the old one is removed
// first only after tmp_dir is complete and synced).
void commit_directory(const fs::path& tmp_dir, const fs::path& final_dir);

// Appends one line (a '\n' is added) and flushes; used for metrics.jsonl.
void append_line(const fs::path& path, std::string_view line);

}  // namespace dpo
