// TensorBoard event files, written by hand (no protobuf or TensorFlow dependency).
//
// A file `events.out.tfevents.<unix seconds>.<hostname>` is a sequence of records:
//   uint64 length (little endian) | uint32 masked CRC32C of those 8 bytes |
//   data[length]                  | uint32 masked CRC32C of data
// and each record's data is one `tensorflow.Event` protobuf message:
//   Event   { double wall_time = 1; int64 step = 2;
//             oneof { string file_version = 3; Summary summary = 5; SessionLog session_log = 7; } }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
//   SessionLog { SessionStatus status = 1; }   (START = 1)
// The first record holds file_version "brain.Event:2". Every write goes straight to the file
// (one write(2) per record), so TensorBoard sees scalars as soon as they are logged and a kill
// loses at most the record being written.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/fs.h"

namespace dpo::report {

struct ScalarValue {
  std::string tag;  // e.g. "train/loss", "eval/rewards/accuracies"
  float value = 0;
};

inline constexpr const char* kEventFileVersion = "brain.Event:2";
inline constexpr int kSessionStart = 1;  // SessionLog.SessionStatus.START

// Protobuf encoding of one Event (exposed for tests and the fuzzer's seeds).
std::string encode_file_version_event(double wall_time);
std::string encode_scalars_event(double wall_time, int64_t step,
                                 const std::vector<ScalarValue>& values);
std::string encode_session_start_event(double wall_time, int64_t step);
// Frames `data` as one record: length, masked CRC of the length, data, masked CRC of the data.
std::string encode_record(std::string_view data);

// Seconds since the Unix epoch, with sub-second precision (Event.wall_time).
double wall_time_now();

class TensorBoardWriter {
 public:
  // Creates `log_dir` if needed and a new event file in it (a numeric suffix is added when a
  // file of the same second and host exists), and writes the file_version record.
  explicit TensorBoardWriter(const fs::path& log_dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  const fs::path& path() const { return path_; }

  // One Event holding every value at `step`.
  void add_scalars(int64_t step, const std::vector<ScalarValue>& values);
  void add_scalar(int64_t step, const std::string& tag, float value) {
    add_scalars(step, {{tag, value}});
  }
  // A SessionLog START at `step`: TensorBoard then drops the data it read before this record with
  // step >= `step` (what an interrupted run wrote after its last checkpoint). Used on resume.
  void add_session_start(int64_t step);

 private:
  void write_record(std::string_view event);

  fs::path path_;
  int fd_ = -1;
};

}  // namespace dpo::report
