// Reads TensorBoard event files back (see tensorboard.h for the format): checks both CRCs of every
// record and decodes the Event fields dpo.cpp writes. Unknown fields are skipped, as protobuf does.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "report/tensorboard.h"
#include "util/fs.h"

namespace dpo::report {

struct TensorBoardEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;          // set in the first record only
  std::vector<ScalarValue> scalars;  // Summary values with a simple_value
  int session_status = 0;            // SessionLog.status when the event is a SessionLog, else 0
};

// Decodes one Event message; UserError naming `where` on malformed protobuf.
TensorBoardEvent decode_event(std::string_view data, const std::string& where);

// Splits `bytes` into records and decodes each. `name` is used in error messages, which give the
// byte offset of the bad record (truncated record, length or data CRC mismatch, bad protobuf).
std::vector<TensorBoardEvent> parse_event_records(std::string_view bytes, const std::string& name);

std::vector<TensorBoardEvent> read_event_file(const fs::path& path);

// The event files (names containing "tfevents") directly in `dir`, sorted by name (= time).
std::vector<fs::path> list_event_files(const fs::path& dir);

}  // namespace dpo::report
