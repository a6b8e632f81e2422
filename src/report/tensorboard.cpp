#include "report/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "report/crc32c.h"
#include "util/error.h"

namespace dpo::report {
namespace {

// Protobuf wire types.
constexpr uint32_t kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (field << 3) | wire_type);
}

void put_little_endian(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void put_double(std::string& out, uint32_t field, double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, kFixed64);
  put_little_endian(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, kFixed32);
  put_little_endian(out, bits, 4);
}

void put_int64(std::string& out, uint32_t field, int64_t value) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(value));  // int64: two's complement, 10 bytes if negative
}

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes);
}

// Event fields 1 and 2, shared by every event kind. Like protobuf's own serializer, a zero step
// (the proto3 default) is left out.
std::string event_header(double wall_time, int64_t step) {
  std::string event;
  put_double(event, 1, wall_time);
  if (step != 0) put_int64(event, 2, step);
  return event;
}

}  // namespace

std::string encode_file_version_event(double wall_time) {
  std::string event = event_header(wall_time, 0);
  put_bytes(event, 3, kEventFileVersion);
  return event;
}

std::string encode_scalars_event(double wall_time, int64_t step,
                                 const std::vector<ScalarValue>& values) {
  std::string summary;
  for (const auto& scalar : values) {
    std::string value;
    put_bytes(value, 1, scalar.tag);
    put_float(value, 2, scalar.value);
    put_bytes(summary, 1, value);
  }
  std::string event = event_header(wall_time, step);
  put_bytes(event, 5, summary);
  return event;
}

std::string encode_session_start_event(double wall_time, int64_t step) {
  std::string session_log;
  put_key(session_log, 1, kVarint);
  put_varint(session_log, kSessionStart);
  std::string event = event_header(wall_time, step);
  put_bytes(event, 7, session_log);
  return event;
}

std::string encode_record(std::string_view data) {
  std::string record;
  put_little_endian(record, data.size(), 8);
  uint32_t length_crc = mask_crc(crc32c(record));
  put_little_endian(record, length_crc, 4);
  record.append(data);
  put_little_endian(record, mask_crc(crc32c(data)), 4);
  return record;
}

double wall_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

TensorBoardWriter::TensorBoardWriter(const fs::path& log_dir) {
  ensure_directory(log_dir);
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  auto seconds = static_cast<long long>(wall_time_now());
  std::string base = fmt::format("events.out.tfevents.{}.{}", seconds, host);
  for (int suffix = 0; fd_ < 0; ++suffix) {
    path_ = log_dir / (suffix == 0 ? base : fmt::format("{}.{}", base, suffix));
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0644);
    if (fd_ < 0 && errno != EEXIST)
      throw_user_error("{}: cannot create TensorBoard event file ({})", path_.string(),
                       std::strerror(errno));
    if (suffix > 1000) throw_user_error("{}: too many event files with this name", path_.string());
  }
  write_record(encode_file_version_event(wall_time_now()));
}

TensorBoardWriter::~TensorBoardWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void TensorBoardWriter::add_scalars(int64_t step, const std::vector<ScalarValue>& values) {
  write_record(encode_scalars_event(wall_time_now(), step, values));
}

void TensorBoardWriter::add_session_start(int64_t step) {
  write_record(encode_session_start_event(wall_time_now(), step));
}

void TensorBoardWriter::write_record(std::string_view event) {
  std::string record = encode_record(event);
  size_t done = 0;
  while (done < record.size()) {
    ssize_t n = ::write(fd_, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_user_error("{}: write failed ({})", path_.string(), std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

}  // namespace dpo::report
