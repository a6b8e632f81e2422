// safetensors: round trip, sharding, and every malformed-file error.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "io/safetensors_header.h"
#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_io_test_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A file with the given JSON header text and data bytes (header length written as given
// unless `declared_length` overrides it).
fs::path write_raw(const fs::path& path, const std::string& header, size_t data_bytes,
                   int64_t declared_length = -1) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = declared_length >= 0 ? static_cast<uint64_t>(declared_length) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
  out << header << std::string(data_bytes, '\0');
  return path;
}

std::string open_error(const fs::path& path) {
  try {
    dpo::SafetensorsFile::open(path);
  } catch (const dpo::UserError& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_error(const fs::path& path, const std::string& fragment) {
  std::string message = open_error(path);
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
}

}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
  fs::path dir = temp_dir();
  std::map<std::string, at::Tensor> tensors = {
      {"f32", at::randn({3, 5})},
      {"f16", at::randn({7}).to(at::kHalf)},
      {"bf16", at::randn({2, 3}).to(at::kBFloat16)},
      {"i64", at::arange(5, at::kLong)},
      {"i32", at::arange(3, at::kInt)},
      {"u8", at::arange(11, at::kByte)},
      {"scalar", at::ones({}, at::kFloat)},
      {"empty", at::zeros({0, 4})},
  };
  dpo::save_safetensors(dir / "a.safetensors", tensors);
  auto file = dpo::SafetensorsFile::open(dir / "a.safetensors");
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(file->contains(name));
    EXPECT_EQ(file->dtype(name), t.scalar_type()) << name;
    EXPECT_EQ(file->shape(name), t.sizes().vec()) << name;
    EXPECT_TRUE(at::equal(file->load(name), t)) << name;
    EXPECT_TRUE(at::equal(file->load(name, true), t)) << name;
  }
  // Header length is a multiple of 8 (space padded) and data starts aligned.
  std::string bytes = dpo::read_file(dir / "a.safetensors");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.substr(8, 30), "{\"__metadata__\":{\"format\":\"pt\"");
  // Tensors outlive the file object (the deleter holds the mapping).
  at::Tensor kept = file->load("f32");
  file.reset();
  EXPECT_TRUE(at::equal(kept, tensors["f32"]));
  // In-place writes to a loaded tensor do not change the file (copy-on-write mapping).
  kept.add_(1);
  EXPECT_TRUE(at::equal(dpo::load_safetensors(dir / "a.safetensors")["f32"], tensors["f32"]));
  fs::remove_all(dir);
}

TEST(Safetensors, ShardedRoundTripWithIndex) {
  fs::path dir = temp_dir();
  std::map<std::string, at::Tensor> tensors;
  for (int i = 0; i < 5; ++i) tensors["w" + std::to_string(i)] = at::randn({10, 10});  // 400 B each
  dpo::save_safetensors_sharded(dir / "out", tensors, 900);
  EXPECT_TRUE(fs::exists(dir / "out" / "model-00001-of-00003.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "out" / "model-00003-of-00003.safetensors"));
  auto index = nlohmann::json::parse(dpo::read_file(dir / "out" / "model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], 2000);
  EXPECT_EQ(index["weight_map"]["w4"], "model-00003-of-00003.safetensors");
  auto loaded = dpo::load_safetensors_dir(dir / "out");
  ASSERT_EQ(loaded.size(), tensors.size());
  for (const auto& [name, t] : tensors) EXPECT_TRUE(at::equal(loaded[name], t)) << name;

  dpo::save_safetensors_sharded(dir / "one", tensors, 1 << 20);
  EXPECT_TRUE(fs::exists(dir / "one" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "one" / "model.safetensors.index.json"));
  EXPECT_EQ(dpo::load_safetensors_dir(dir / "one").size(), tensors.size());
  fs::remove_all(dir);
}

TEST(Safetensors, ShardedErrors) {
  fs::path dir = temp_dir();
  try {
    dpo::load_safetensors_dir(dir);
    FAIL();
  } catch (const dpo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no model.safetensors"), std::string::npos) << e.what();
  }
  dpo::write_file_atomic(dir / "model.safetensors.index.json",
                         R"({"weight_map": {"a": "missing.safetensors"}})");
  try {
    dpo::load_safetensors_dir(dir);
    FAIL();
  } catch (const dpo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "shard 'missing.safetensors' (listed for tensor 'a') does not exist"),
              std::string::npos)
        << e.what();
  }
  dpo::save_safetensors(dir / "s.safetensors", {{"b", at::ones({2})}});
  dpo::write_file_atomic(dir / "model.safetensors.index.json",
                         R"({"weight_map": {"a": "s.safetensors"}})");
  try {
    dpo::load_safetensors_dir(dir);
    FAIL();
  } catch (const dpo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'a' is listed in s.safetensors but not present"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

TEST(Safetensors, MalformedFiles) {
  fs::path dir = temp_dir();
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  {
    std::ofstream(dir / "tiny", std::ios::binary) << "abc";
    expect_error(dir / "tiny", "file is 3 bytes, too short");
  }
  expect_error(write_raw(dir / "badjson", "{\"a\": [", 0), "header is not valid JSON");
  expect_error(write_raw(dir / "notobject", "[1,2]", 0), "header must be a JSON object");
  expect_error(write_raw(dir / "pastEOF", "{" + ok_entry + "}", 8, 5000),
               "header length 5000 goes past the end of the file");
  expect_error(write_raw(dir / "huge", "{}", 0, 200'000'000), "exceeds the 100000000 byte limit");
  expect_error(write_raw(dir / "offsets", "{" + ok_entry + "}", 4),
               "tensor 'a': data_offsets [0, 8] go past the end of the file");
  expect_error(
      write_raw(dir / "overlap",
                "{" + ok_entry + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
      "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
  expect_error(
      write_raw(dir / "reversed", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
      "tensor 'a': data_offsets [8, 0] are reversed");
  expect_error(
      write_raw(dir / "gap",
                "{" + ok_entry + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})", 20),
      "tensor 'b': data_offsets [12, 20] leave a gap after byte 8");
  expect_error(
      write_raw(dir / "size", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
      "tensor 'a': data_offsets [0, 8] span 8 bytes but dtype F32 x shape [3] needs 12");
  expect_error(
      write_raw(dir / "dtype", R"({"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", 8),
      "tensor 'a': unknown or unsupported dtype 'F8_E4M3' (supported: F64, F32");
  expect_error(write_raw(dir / "missing", R"({"a":{"dtype":"F32","shape":[2]}})", 8),
               "tensor 'a': missing \"data_offsets\"");
  expect_error(
      write_raw(dir / "shape", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
      "tensor 'a': \"shape\" must hold non-negative integers");
  expect_error(write_raw(dir / "trailing", "{" + ok_entry + "}", 16), "trailing bytes");
  expect_error(write_raw(dir / "meta", "{\"__metadata__\":{\"x\":1}," + ok_entry + "}", 8),
               "\"__metadata__\".\"x\" must be a string");
  fs::remove_all(dir);
}

TEST(Safetensors, UnknownTensorName) {
  fs::path dir = temp_dir();
  dpo::save_safetensors(dir / "a.safetensors", {{"x", at::ones({1})}});
  auto file = dpo::SafetensorsFile::open(dir / "a.safetensors");
  try {
    file->load("y");
    FAIL();
  } catch (const dpo::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor named 'y'"), std::string::npos);
  }
  fs::remove_all(dir);
}

TEST(Safetensors, ReadsReferenceFixture) {
  auto file =
      dpo::SafetensorsFile::open(fs::path(DPO_FIXTURES) / "hf/llama/model/model.safetensors");
  EXPECT_TRUE(file->contains("model.embed_tokens.weight"));
  EXPECT_EQ(file->shape("model.embed_tokens.weight"), (std::vector<int64_t>{32000, 32}));
  EXPECT_EQ(file->dtype("model.embed_tokens.weight"), at::kFloat);
}
