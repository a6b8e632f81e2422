#include "report/tensorboard.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "report/crc32c.h"
#include "report/metrics_log.h"
#include "report/tensorboard_reader.h"
#include "report/test_dir.h"
#include "util/error.h"

namespace dpo::report {
namespace {

using testing::TestDir;

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

TEST(TensorBoardEncoding, ScalarEventBytes) {
  // Event{wall_time: 1.5, step: 3, summary{value{tag: "a", simple_value: 0.25}}} as protobuf
  // serializes it: 1.5 = 0x3FF8000000000000, 0.25f = 0x3E800000, little endian.
  std::string expected = bytes({0x09, 0,    0,    0,    0,   0, 0, 0xF8, 0x3F,  // wall_time
                                0x10, 0x03,                                     // step
                                0x2A, 0x0A,                                     // summary, 10 bytes
                                0x0A, 0x08,                                     //   value, 8 bytes
                                0x0A, 0x01, 'a',                                //     tag
                                0x15, 0x00, 0x00, 0x80, 0x3E});                 //     simple_value
  EXPECT_EQ(encode_scalars_event(1.5, 3, {{"a", 0.25f}}), expected);
}

TEST(TensorBoardEncoding, LargeAndNegativeStepsAreVarints) {
  TensorBoardEvent e = decode_event(encode_scalars_event(2.0, 300, {{"x", 1.0f}}), "test");
  EXPECT_EQ(e.step, 300);
  std::string event = encode_scalars_event(2.0, 300, {});
  EXPECT_EQ(event.substr(9, 3), bytes({0x10, 0xAC, 0x02}));  // 300 = 0b10_0101100
  EXPECT_EQ(decode_event(encode_scalars_event(0, -5, {}), "test").step, -5);
}

TEST(TensorBoardEncoding, FileVersionRecordMatchesTensorFlow) {
  // Every TensorFlow event file starts with a 24-byte file_version Event; the masked CRC of its
  // length (0x18) is the well-known a3 7f 4b 22.
  std::string record = encode_record(encode_file_version_event(1700000000.25));
  ASSERT_EQ(record.size(), 8u + 4 + 24 + 4);
  EXPECT_EQ(record.substr(0, 12), bytes({0x18, 0, 0, 0, 0, 0, 0, 0, 0xA3, 0x7F, 0x4B, 0x22}));
  EXPECT_NE(record.find("brain.Event:2"), std::string::npos);
  auto events = parse_event_records(record, "mem");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_DOUBLE_EQ(events[0].wall_time, 1700000000.25);
  EXPECT_EQ(events[0].step, 0);
}

TEST(TensorBoardEncoding, RecordCrcsAreMaskedCrc32c) {
  std::string data = encode_scalars_event(1.0, 7, {{"train/loss", 0.5f}});
  std::string record = encode_record(data);
  uint32_t data_crc;
  std::memcpy(&data_crc, record.data() + 12 + data.size(), 4);
  EXPECT_EQ(data_crc, mask_crc(crc32c(data)));
  uint32_t length_crc;
  std::memcpy(&length_crc, record.data() + 8, 4);
  EXPECT_EQ(length_crc, mask_crc(crc32c(record.substr(0, 8))));
}

TEST(TensorBoardWriter, WritesScalarsThatReadBack) {
  TestDir dir;
  fs::path path;
  {
    TensorBoardWriter writer(dir.path());
    path = writer.path();
    writer.add_scalars(1, {{"train/loss", 0.6931f}, {"train/rewards/accuracies", 0.5f}});
    writer.add_scalar(2, "eval/loss", 0.25f);
    // Flushed after each write: readable before the writer closes.
    EXPECT_EQ(read_event_file(path).size(), 3u);
    writer.add_session_start(3);
  }
  EXPECT_NE(path.filename().string().find("events.out.tfevents."), std::string::npos);
  auto events = read_event_file(path);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].file_version, kEventFileVersion);
  EXPECT_GT(events[0].wall_time, 1.6e9);
  EXPECT_EQ(events[1].step, 1);
  ASSERT_EQ(events[1].scalars.size(), 2u);
  EXPECT_EQ(events[1].scalars[0].tag, "train/loss");
  EXPECT_EQ(events[1].scalars[0].value, 0.6931f);
  EXPECT_EQ(events[1].scalars[1].tag, "train/rewards/accuracies");
  EXPECT_EQ(events[1].scalars[1].value, 0.5f);
  EXPECT_EQ(events[2].step, 2);
  EXPECT_EQ(events[2].scalars.at(0).tag, "eval/loss");
  EXPECT_EQ(events[3].step, 3);
  EXPECT_EQ(events[3].session_status, kSessionStart);
  EXPECT_TRUE(events[3].scalars.empty());
  EXPECT_GE(events[3].wall_time, events[1].wall_time);
}

TEST(TensorBoardWriter, TwoWritersInOneSecondGetTwoFiles) {
  TestDir dir;
  TensorBoardWriter a(dir.path());
  TensorBoardWriter b(dir.path());
  EXPECT_NE(a.path(), b.path());
  auto files = list_event_files(dir.path());
  EXPECT_EQ(files.size(), 2u);
}

std::string file_bytes(const fs::path& path) {
  return read_file(path);
}

TEST(TensorBoardReader, DetectsCorruption) {
  TestDir dir;
  fs::path path;
  {
    TensorBoardWriter writer(dir.path());
    path = writer.path();
    writer.add_scalar(5, "train/loss", 1.0f);
  }
  const std::string good = file_bytes(path);
  const size_t second = 12 + 24 + 4;  // the scalar record starts after the file_version record
  auto expect_error = [&](std::string bad, const std::string& what) {
    try {
      parse_event_records(bad, "events.bin");
      FAIL() << "expected an error containing: " << what;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("events.bin"), std::string::npos) << e.what();
    }
  };
  std::string bad = good;
  bad[second + 14] ^= 0x01;  // a data byte
  expect_error(bad, "record at byte 40: data CRC mismatch");
  bad = good;
  bad[second] ^= 0x01;  // the length
  expect_error(bad, "record at byte 40: length CRC mismatch");
  expect_error(good.substr(0, good.size() - 2), "record at byte 40: truncated");
  expect_error(good.substr(0, second + 5), "truncated record header at byte 40");
}

TEST(TensorBoardReader, MalformedProtobufNamesTheRecord) {
  std::string event = bytes({0x2A, 0x7F, 0x0A});  // summary claiming 127 bytes, 1 present
  try {
    parse_event_records(encode_record(event), "ev");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("ev: record at byte 0: malformed Event protobuf"),
              std::string::npos)
        << e.what();
  }
}

TEST(TensorBoardReader, SkipsUnknownFields) {
  // A graph_def (field 4, bytes) and source_metadata (field 10) are skipped.
  std::string event =
      encode_scalars_event(1.0, 9, {{"x", 2.0f}}) + bytes({0x22, 0x02, 'h', 'i', 0x50, 0x01});
  TensorBoardEvent e = decode_event(event, "t");
  EXPECT_EQ(e.step, 9);
  ASSERT_EQ(e.scalars.size(), 1u);
  EXPECT_EQ(e.scalars[0].value, 2.0f);
}

TEST(MetricsLogTensorBoard, MirrorsRowsWithHfTags) {
  TestDir dir;
  MetricsLogOptions options;
  options.tensorboard = true;
  fs::path events_path;
  {
    MetricsLog log(dir.path(), options);
    events_path = log.tensorboard_path();
    MetricsRow row;
    row.step = 10;
    row.values = {
        {"epoch", 0.25}, {"loss", 0.5}, {"rewards/margins", 1.25}, {"grad_norm", std::nan("")}};
    log.write(row);
    MetricsRow eval;
    eval.step = 10;
    eval.values = {{"eval_loss", 0.4}, {"eval_rewards/accuracies", 0.75}};
    log.write(eval);
  }
  auto events = read_event_file(events_path);
  ASSERT_EQ(events.size(), 4u);  // version, session start, two rows
  EXPECT_EQ(events[1].session_status, kSessionStart);
  EXPECT_EQ(events[1].step, 0);
  ASSERT_EQ(events[2].scalars.size(), 3u);  // the NaN grad_norm is not a scalar
  EXPECT_EQ(events[2].step, 10);
  EXPECT_EQ(events[2].scalars[0].tag, "train/epoch");
  EXPECT_EQ(events[2].scalars[1].tag, "train/loss");
  EXPECT_EQ(events[2].scalars[1].value, 0.5f);
  EXPECT_EQ(events[2].scalars[2].tag, "train/rewards/margins");
  EXPECT_EQ(events[2].scalars[2].value, 1.25f);
  ASSERT_EQ(events[3].scalars.size(), 2u);
  EXPECT_EQ(events[3].scalars[0].tag, "eval/loss");
  EXPECT_FLOAT_EQ(events[3].scalars[0].value, 0.4f);
  EXPECT_EQ(events[3].scalars[1].tag, "eval/rewards/accuracies");
}

TEST(MetricsLogTensorBoard, ResumeTellsTensorBoardToForgetLaterSteps) {
  TestDir dir;
  MetricsLogOptions options;
  options.tensorboard = true;
  options.resume_step = 40;
  MetricsLog log(dir.path(), options);
  auto events = read_event_file(log.tensorboard_path());
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].session_status, kSessionStart);
  EXPECT_EQ(events[1].step, 41);
}

// Google's protobuf runtime must read the file as TensorFlow's Event messages (tests/report/
// verify_tfevents.py; skipped where Debian's python3-protobuf is not installed).
TEST(TensorBoardWriter, GoogleProtobufReadsTheFile) {
  if (std::system("/usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-protobuf not installed";
  TestDir dir;
  MetricsLogOptions options;
  options.tensorboard = true;
  fs::path events;
  {
    MetricsLog log(dir.path(), options);
    events = log.tensorboard_path();
    MetricsRow row;
    row.step = 12;
    row.values = {{"loss", 0.5}, {"rewards/margins", -1.25}};
    log.write(row);
  }
  std::string command = std::string("/usr/bin/python3 ") + DPO_SOURCE_DIR +
                        "/tests/report/verify_tfevents.py '" + events.string() + "' 2>&1";
  std::string output;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[1024];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  EXPECT_EQ(::pclose(pipe), 0) << output;
  EXPECT_EQ(output,
            "0 brain.Event:2 [] \n"
            "0  [] 1\n"
            "12  [('train/loss', 0.5), ('train/rewards/margins', -1.25)] \n"
            "OK\n");
}

}  // namespace
}  // namespace dpo::report
