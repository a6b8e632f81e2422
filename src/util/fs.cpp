#include "util/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "util/error.h"
#include "util/output_guard.h"

namespace dpo {

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw_user_error("{}: is a directory, expected a file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw_user_error("{}: cannot open for reading ({})", path.string(), std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

namespace {
// Writes all of `data` to `fd`, retrying on EINTR; the errno of a failed write() otherwise.
int write_fully(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}
}  // namespace

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)) {
  remove_stale_temporaries(path_);  // PATH.tmp.PID of killed processes
  tmp_ = path_;
  tmp_ += ".tmp." + std::to_string(::getpid());
  register_temporary(tmp_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd_ < 0) {
    const int err = errno;
    unregister_temporary(tmp_);
    throw_user_error("{}: cannot open for writing ({})", path_.string(), std::strerror(err));
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  unregister_temporary(tmp_);
  if (committed_) return;
  std::error_code ignored;
  fs::remove(tmp_, ignored);
}

void AtomicFile::write(const void* data, size_t size) {
  if (int err = write_fully(fd_, static_cast<const char*>(data), size))
    throw_user_error("{}: write failed ({})", path_.string(), std::strerror(err));
}

void AtomicFile::commit() {
  int err = ::fsync(fd_) != 0 ? errno : 0;
  if (::close(fd_) != 0 && err == 0) err = errno;  // NFS and quotas may report late, here
  fd_ = -1;
  if (err != 0)
    throw_user_error("{}: cannot flush to disk ({})", path_.string(), std::strerror(err));
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  if (ec) throw_user_error("{}: cannot rename into place ({})", path_.string(), ec.message());
  committed_ = true;
  fsync_path(path_.has_parent_path() ? path_.parent_path() : fs::path("."));
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

void ensure_directory(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw_user_error("{}: exists and is not a directory", dir.string());
  fs::create_directories(dir, ec);
  if (ec) throw_user_error("{}: cannot create directory ({})", dir.string(), ec.message());
}

void commit_directory(const fs::path& tmp_dir, const fs::path& final_dir) {
  for (const auto& entry : fs::directory_iterator(tmp_dir)) fsync_path(entry.path());
  fsync_path(tmp_dir);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(final_dir, ec))) {
    // One atomic swap where the filesystem has it: no moment without final_dir. tmp_dir then holds
    // the old contents, removed next (a kill meanwhile leaves a stale temporary, never a gap).
    if (::renameat2(AT_FDCWD, tmp_dir.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
      fsync_path(final_dir.has_parent_path() ? final_dir.parent_path() : fs::path("."));
      fs::remove_all(tmp_dir, ec);
      return;
    }
    // Else two renames; a kill between them leaves FINAL.old.PID, which the next writer puts back
    // (remove_stale_temporaries).
    fs::path old = final_dir;
    old += ".old." + std::to_string(::getpid());
    fs::rename(final_dir, old, ec);
    if (ec) throw_user_error("{}: cannot move aside ({})", final_dir.string(), ec.message());
    fs::rename(tmp_dir, final_dir, ec);
    if (ec) {
      std::error_code put_back;
      fs::rename(old, final_dir, put_back);
      throw_user_error("{}: cannot rename into place ({})", final_dir.string(), ec.message());
    }
    fs::remove_all(old, ec);
  } else {
    fs::rename(tmp_dir, final_dir, ec);
    if (ec) throw_user_error("{}: cannot rename into place ({})", final_dir.string(), ec.message());
  }
  fsync_path(final_dir.has_parent_path() ? final_dir.parent_path() : fs::path("."));
}

void append_line(const fs::path& path, std::string_view line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0)
    throw_user_error("{}: cannot open for appending ({})", path.string(), std::strerror(errno));
  std::string data(line);
  data.push_back('\n');
  const off_t size_before = ::lseek(fd, 0, SEEK_END);
  if (int err = write_fully(fd, data.data(), data.size())) {
    // A full disk must not leave half a line for readers of the log to trip over.
    const int truncated = size_before >= 0 ? ::ftruncate(fd, size_before) : -1;
    (void)truncated;  // best effort: the write error is what the user must see
    ::close(fd);
    throw_user_error("{}: write failed ({})", path.string(), std::strerror(err));
  }
  ::fsync(fd);
  ::close(fd);
}

}  // namespace dpo
