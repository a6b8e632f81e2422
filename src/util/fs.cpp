#include "util/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.h"

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
void write_all(int fd, std::string_view data, const fs::path& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw_user_error("{}: write failed ({})", path.string(), std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
}
}  // namespace

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw_user_error("{}: cannot open for writing ({})", tmp.string(), std::strerror(errno));
  write_all(fd, contents, tmp);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    std::error_code ec;
    fs::remove(tmp, ec);
    throw_user_error("{}: cannot flush to disk ({})", tmp.string(), std::strerror(err));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw_user_error("{}: cannot rename into place ({})", path.string(), ec.message());
  }
  fsync_path(path.has_parent_path() ? path.parent_path() : fs::path("."));
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
  if (fs::exists(final_dir, ec)) {
    fs::path old = final_dir;
    old += ".old." + std::to_string(::getpid());
    fs::rename(final_dir, old, ec);
    if (ec) throw_user_error("{}: cannot move aside ({})", final_dir.string(), ec.message());
    fs::rename(tmp_dir, final_dir, ec);
    if (ec) throw_user_error("{}: cannot rename into place ({})", final_dir.string(), ec.message());
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
  write_all(fd, data, path);
  ::fsync(fd);
  ::close(fd);
}

}  // namespace dpo
