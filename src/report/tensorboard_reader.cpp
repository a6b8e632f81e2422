#include "report/tensorboard_reader.h"

#include <algorithm>
#include <cstring>

#include "report/crc32c.h"
#include "util/error.h"

namespace dpo::report {
namespace {

// A bounds-checked cursor over protobuf bytes.
class WireReader {
 public:
  WireReader(std::string_view data, const std::string& where) : data_(data), where_(where) {}

  bool done() const { return pos_ >= data_.size(); }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) fail("truncated varint");
      auto byte = static_cast<unsigned char>(data_[pos_++]);
      value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail("varint longer than 10 bytes");
  }

  uint64_t fixed(int bytes) {
    if (data_.size() - pos_ < static_cast<size_t>(bytes)) fail("truncated fixed-width field");
    uint64_t value = 0;
    for (int i = 0; i < bytes; ++i)
      value |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
    pos_ += bytes;
    return value;
  }

  std::string_view bytes() {
    uint64_t size = varint();
    if (size > data_.size() - pos_) fail("length-delimited field runs past the end");
    std::string_view out = data_.substr(pos_, size);
    pos_ += size;
    return out;
  }

  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        break;
      case 1:
        fixed(8);
        break;
      case 2:
        bytes();
        break;
      case 5:
        fixed(4);
        break;
      default:
        fail(fmt::format("unsupported wire type {}", wire_type));
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw_user_error("{}: malformed Event protobuf at byte {} of the record ({})", where_, pos_,
                     what);
  }

 private:
  std::string_view data_;
  const std::string& where_;
  size_t pos_ = 0;
};

double as_double(uint64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

float as_float(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// Summary.Value { tag = 1; simple_value = 2 }; false when it holds no simple_value.
bool decode_value(std::string_view data, const std::string& where, ScalarValue* out) {
  WireReader in(data, where);
  bool has_value = false;
  while (!in.done()) {
    uint64_t key = in.varint();
    uint32_t field = static_cast<uint32_t>(key >> 3), wire = key & 7;
    if (field == 1 && wire == 2) {
      out->tag = std::string(in.bytes());
    } else if (field == 2 && wire == 5) {
      out->value = as_float(static_cast<uint32_t>(in.fixed(4)));
      has_value = true;
    } else {
      in.skip(wire);
    }
  }
  return has_value;
}

void decode_summary(std::string_view data, const std::string& where, TensorBoardEvent* event) {
  WireReader in(data, where);
  while (!in.done()) {
    uint64_t key = in.varint();
    uint32_t field = static_cast<uint32_t>(key >> 3), wire = key & 7;
    if (field == 1 && wire == 2) {
      ScalarValue value;
      if (decode_value(in.bytes(), where, &value)) event->scalars.push_back(std::move(value));
    } else {
      in.skip(wire);
    }
  }
}

int decode_session_status(std::string_view data, const std::string& where) {
  WireReader in(data, where);
  int status = 0;
  while (!in.done()) {
    uint64_t key = in.varint();
    uint32_t field = static_cast<uint32_t>(key >> 3), wire = key & 7;
    if (field == 1 && wire == 0)
      status = static_cast<int>(in.varint());
    else
      in.skip(wire);
  }
  return status;
}

uint64_t read_le(std::string_view bytes, size_t pos, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[pos + i])) << (8 * i);
  return value;
}

}  // namespace

TensorBoardEvent decode_event(std::string_view data, const std::string& where) {
  TensorBoardEvent event;
  WireReader in(data, where);
  while (!in.done()) {
    uint64_t key = in.varint();
    uint32_t field = static_cast<uint32_t>(key >> 3), wire = key & 7;
    if (field == 1 && wire == 1)
      event.wall_time = as_double(in.fixed(8));
    else if (field == 2 && wire == 0)
      event.step = static_cast<int64_t>(in.varint());
    else if (field == 3 && wire == 2)
      event.file_version = std::string(in.bytes());
    else if (field == 5 && wire == 2)
      decode_summary(in.bytes(), where, &event);
    else if (field == 7 && wire == 2)
      event.session_status = decode_session_status(in.bytes(), where);
    else
      in.skip(wire);
  }
  return event;
}

std::vector<TensorBoardEvent> parse_event_records(std::string_view bytes, const std::string& name) {
  std::vector<TensorBoardEvent> events;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t start = pos;
    if (bytes.size() - pos < 12)
      throw_user_error("{}: truncated record header at byte {}", name, start);
    uint64_t length = read_le(bytes, pos, 8);
    uint32_t length_crc = static_cast<uint32_t>(read_le(bytes, pos + 8, 4));
    uint32_t expected = mask_crc(crc32c(bytes.substr(pos, 8)));
    if (length_crc != expected)
      throw_user_error(
          "{}: record at byte {}: length CRC mismatch (stored {:#010x}, computed {:#010x})", name,
          start, length_crc, expected);
    pos += 12;
    if (length > bytes.size() - pos || bytes.size() - pos - length < 4)
      throw_user_error("{}: record at byte {}: truncated ({} data bytes announced, {} left)", name,
                       start, length, bytes.size() - pos);
    std::string_view data = bytes.substr(pos, length);
    uint32_t data_crc = static_cast<uint32_t>(read_le(bytes, pos + length, 4));
    expected = mask_crc(crc32c(data));
    if (data_crc != expected)
      throw_user_error(
          "{}: record at byte {}: data CRC mismatch (stored {:#010x}, computed {:#010x})", name,
          start, data_crc, expected);
    pos += length + 4;
    events.push_back(decode_event(data, fmt::format("{}: record at byte {}", name, start)));
  }
  return events;
}

std::vector<TensorBoardEvent> read_event_file(const fs::path& path) {
  return parse_event_records(read_file(path), path.string());
}

std::vector<fs::path> list_event_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() &&
        entry.path().filename().string().find("tfevents") != std::string::npos)
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace dpo::report
