// Replays the fuzz seed corpora of the io parsers (fuzz/corpus/<target>/) and hand-made hostile
// headers through the same functions as the fuzz targets: each input parses or raises UserError.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "io/model_config.h"
#include "io/safetensors_header.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// u64 little-endian length + JSON header text.
std::string safetensors_file(const std::string& header, const std::string& data = "") {
  std::string file(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return file + header + data;
}

std::string header_error(const std::string& file) {
  try {
    dpo::parse_safetensors_header(reinterpret_cast<const uint8_t*>(file.data()), file.size(),
                                  "x.safetensors");
  } catch (const dpo::UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(FuzzRegressions, SafetensorsCorpusParsesOrRaisesUserError) {
  int parsed = 0;
  for (const auto& item : fs::directory_iterator(fs::path(DPO_SOURCE_DIR) / "fuzz" / "corpus" /
                                                 "safetensors_header")) {
    const std::string file = read_bytes(item.path());
    try {
      dpo::parse_safetensors_header(reinterpret_cast<const uint8_t*>(file.data()), file.size(),
                                    item.path().string());
      ++parsed;
    } catch (const dpo::UserError&) {
    }
  }
  EXPECT_GE(parsed, 4);
}

TEST(FuzzRegressions, SafetensorsHostileHeaders) {
  // Element counts whose byte size wraps around 2^64.
  EXPECT_NE(header_error(safetensors_file(
                R"({"t":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})")),
            "");
  EXPECT_NE(header_error(safetensors_file(
                R"({"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})")),
            "");
  EXPECT_NE(header_error(safetensors_file(
                R"({"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd")),
            "");
  // Header lengths past the file and past the 100 MB limit.
  std::string too_long = safetensors_file("{}");
  too_long[3] = 0x10;  // 0x10000000 + 2 bytes
  EXPECT_NE(header_error(too_long), "");
  std::string all_ones = safetensors_file("{}");
  for (int i = 0; i < 8; ++i) all_ones[i] = static_cast<char>(0xff);
  EXPECT_NE(header_error(all_ones), "");
  EXPECT_NE(header_error(std::string("\x02\0\0\0", 4)), "");  // shorter than the length field
  // Overlapping tensors.
  EXPECT_NE(
      header_error(safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                    R"("b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                                    std::string(8, '\0'))),
      "");
}

TEST(FuzzRegressions, ModelConfigCorpusRoundTrips) {
  int parsed = 0;
  for (const auto& item :
       fs::directory_iterator(fs::path(DPO_SOURCE_DIR) / "fuzz" / "corpus" / "model_config")) {
    const auto config = dpo::ModelConfig::from_json_text(read_bytes(item.path()), "config.json");
    const auto again = dpo::ModelConfig::from_json_text(config.to_json_text(), "again");
    EXPECT_EQ(again.to_json_text(), config.to_json_text()) << item.path();
    ++parsed;
  }
  EXPECT_EQ(parsed, 3);
  for (const char* text : {"", "[]", "{\"hidden_size\": -1}", "{\"num_attention_heads\": 0}",
                           "{\"rope_scaling\": 7}", "\xff\xfe"}) {
    EXPECT_THROW(dpo::ModelConfig::from_json_text(text, "config.json"), dpo::UserError) << text;
  }
}
