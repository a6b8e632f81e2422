// GGUF container: write/read round trip of every value type, hostile files as clear errors,
// float16/bfloat16/q8_0 and dequantization bit-exact against gguf-py (gguf.quants).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "io/gguf.h"
#include "io/gguf_model.h"
#include "io/gguf_quants.h"
#include "python_reference.h"
#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;
using namespace dpo;

namespace {

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_gguf_test_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void put_bytes(const fs::path& path, const void* data, size_t n) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

GgufHeader parse(const std::string& bytes, const std::string& source = "test.gguf") {
  return parse_gguf(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), source);
}

std::string parse_error(const std::string& bytes) {
  try {
    parse(bytes);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

// A small file: a few keys and two F32 tensors (2x3 and 4).
GgufWriter small_writer() {
  GgufWriter w;
  w.add("general.architecture", GgufValue::str("llama"));
  w.add("u32", GgufValue::u32(7));
  w.add("u33", GgufValue::u32(8));
  w.add("f32s", GgufValue::f32s({1.5f, -2.0f}));
  for (auto [name, n] : {std::pair<const char*, int64_t>{"a", 6}, {"b", 4}}) {
    std::vector<int64_t> shape = n == 6 ? std::vector<int64_t>{2, 3} : std::vector<int64_t>{4};
    w.add_tensor(name, shape, kGgmlF32, [n = n](std::vector<uint8_t>& out) {
      out.resize(static_cast<size_t>(n) * 4);
      for (int64_t k = 0; k < n; ++k) {
        float v = static_cast<float>(k) + 0.5f;
        std::memcpy(out.data() + 4 * k, &v, 4);
      }
    });
  }
  return w;
}

std::string small_file() {
  fs::path path = temp_dir() / "small.gguf";
  small_writer().write(path);
  return slurp(path);
}

int python(const std::string& arguments) {
  std::string command = std::string("'") + dpo::testing::python_interpreter() + "' '" +
                        DPO_SOURCE_DIR + "/tests/io/gguf_check.py' " + arguments;
  return std::system(command.c_str());
}

// Random floats of varied magnitude, with zeros, ties and extremes mixed in.
std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> exponent(-30, 20);
  std::vector<float> x(n);
  for (size_t k = 0; k < n; ++k) x[k] = std::ldexp(normal(rng), exponent(rng) / 3);
  for (size_t k = 0; k < 32 && k < n; ++k) x[k] = 0.0f;  // a zero block
  for (size_t k = 32; k < 64 && k < n; ++k) x[k] = static_cast<float>(k % 5) * 0.5f - 1.0f;  // ties
  if (n > 70) x[64] = 65504.0f, x[65] = 65520.0f, x[66] = 1e-8f, x[67] = -6e-5f, x[68] = 1e30f;
  return x;
}

}  // namespace

TEST(Gguf, RoundTripEveryValueType) {
  fs::path dir = temp_dir();
  GgufWriter w;
  GgufValue v;
  v.type = GgufType::kUint8, v.u = 200;
  w.add("u8", v);
  v = {}, v.type = GgufType::kInt8, v.i = -100;
  w.add("i8", v);
  v = {}, v.type = GgufType::kUint16, v.u = 60000;
  w.add("u16", v);
  v = {}, v.type = GgufType::kInt16, v.i = -30000;
  w.add("i16", v);
  w.add("u32", GgufValue::u32(4000000000u));
  w.add("i32", GgufValue::i32(-2000000000));
  w.add("u64", GgufValue::u64(uint64_t{1} << 63));
  v = {}, v.type = GgufType::kInt64, v.i = -(int64_t{1} << 62);
  w.add("i64", v);
  w.add("f32", GgufValue::f32(0.1f));
  v = {}, v.type = GgufType::kFloat64, v.f = 0.1;
  w.add("f64", v);
  w.add("bool", GgufValue::boolean(true));
  w.add("str", GgufValue::str(std::string("caf\xc3\xa9\0x", 7)));
  w.add("strs", GgufValue::strings({"a", "", "ccc"}));
  w.add("nested",
        GgufValue::array_of(GgufType::kArray, {GgufValue::i32s({1, 2}), GgufValue::i32s({})}));
  w.add_tensor("t", {3, 32}, kGgmlQ8_0, [](std::vector<uint8_t>& out) { out.assign(3 * 34, 1); });
  w.write(dir / "all.gguf");
  GgufHeader h = parse(slurp(dir / "all.gguf"));
  EXPECT_EQ(h.version, 3u);
  ASSERT_EQ(h.metadata.size(), 14u);
  EXPECT_EQ(h.find("u8")->u, 200u);
  EXPECT_EQ(h.find("i8")->i, -100);
  EXPECT_EQ(h.find("u16")->u, 60000u);
  EXPECT_EQ(h.find("i16")->i, -30000);
  EXPECT_EQ(h.find("u32")->u, 4000000000u);
  EXPECT_EQ(h.find("i32")->i, -2000000000);
  EXPECT_EQ(h.find("u64")->u, uint64_t{1} << 63);
  EXPECT_EQ(h.find("i64")->i, -(int64_t{1} << 62));
  EXPECT_EQ(h.find("f32")->f, static_cast<double>(0.1f));
  EXPECT_EQ(h.find("f64")->f, 0.1);
  EXPECT_TRUE(h.find("bool")->as_bool("bool"));
  EXPECT_EQ(h.find("str")->s, std::string("caf\xc3\xa9\0x", 7));
  EXPECT_EQ(h.find("strs")->array.size(), 3u);
  EXPECT_EQ(h.find("strs")->array[2].s, "ccc");
  EXPECT_EQ(h.find("nested")->array[0].array[1].i, 2);
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].shape(), (std::vector<int64_t>{3, 32}));
  EXPECT_EQ(h.tensors[0].nbytes, 3u * 34u);
  EXPECT_EQ(h.data_start % 32, 0u);
  EXPECT_THROW(h.find("u64")->as_int("u64"), UserError);  // 2^63 does not fit int64
  EXPECT_THROW(h.find("str")->as_int("str"), UserError);
}

TEST(Gguf, GgufPyReadsWhatWeWrite) {
  DPO_REQUIRE_PYTHON_MODULES("gguf");
  fs::path dir = temp_dir();
  small_writer().write(dir / "small.gguf");
  EXPECT_EQ(python("read '" + (dir / "small.gguf").string() + "' > /dev/null"), 0);
}

TEST(Gguf, HostileFilesAreClearErrors) {
  const std::string good = small_file();
  ASSERT_NO_THROW(parse(good));
  // Every truncation before the end of the last tensor's data is an error naming the file.
  const GgufHeader h = parse(good);
  const size_t end = h.data_start + h.tensors.back().offset + h.tensors.back().nbytes;
  for (size_t n = 0; n < end; ++n) {
    std::string message = parse_error(good.substr(0, n));
    EXPECT_NE(message.find("test.gguf"), std::string::npos) << n << ": " << message;
  }
  auto patched = [&](size_t offset, uint64_t value, size_t width) {
    std::string bytes = good;
    std::memcpy(&bytes[offset], &value, width);
    return bytes;
  };
  EXPECT_NE(parse_error("GGML" + good.substr(4)).find("not a GGUF file"), std::string::npos);
  EXPECT_NE(parse_error(patched(4, 1, 4)).find("GGUF version 1 is not supported"),
            std::string::npos);
  EXPECT_NE(parse_error(patched(8, uint64_t{1} << 60, 8)).find("tensors cannot fit"),
            std::string::npos);
  EXPECT_NE(parse_error(patched(16, uint64_t{1} << 60, 8)).find("key/values cannot fit"),
            std::string::npos);
  // First key: length at 24, "general.architecture" (20 bytes) at 32, type at 52.
  EXPECT_NE(parse_error(patched(24, uint64_t{1} << 40, 8)).find("truncated GGUF file"),
            std::string::npos);
  EXPECT_NE(parse_error(patched(52, 99, 4)).find("unknown value type 99"), std::string::npos);
  // "f32s": an array; its element count made huge.
  size_t f32s = good.find("f32s");
  ASSERT_NE(f32s, std::string::npos);
  EXPECT_NE(parse_error(patched(f32s + 4 + 4 + 4, uint64_t{1} << 58, 8)).find("cannot fit"),
            std::string::npos);
  EXPECT_NE(parse_error(patched(f32s + 4 + 4, 77, 4)).find("unknown array element type 77"),
            std::string::npos);
  // Tensor "b" (1 dim): name length 8 + "b", n_dims, dim, type, offset.
  size_t b = good.find(std::string("\x01\0\0\0\0\0\0\0b", 9));
  ASSERT_NE(b, std::string::npos);
  const size_t b_dims = b + 9, b_dim0 = b_dims + 4, b_type = b_dim0 + 8, b_offset = b_type + 4;
  EXPECT_NE(parse_error(patched(b_dims, 5, 4)).find("5 dimensions"), std::string::npos);
  EXPECT_NE(parse_error(patched(b_dim0, 0, 8)).find("bad dimension 0"), std::string::npos);
  EXPECT_NE(parse_error(patched(b_dim0, uint64_t{1} << 63, 8)).find("bad dimension"),
            std::string::npos);
  EXPECT_NE(parse_error(patched(b_type, 5, 4)).find("unknown ggml type 5"), std::string::npos);
  EXPECT_NE(
      parse_error(patched(b_type, kGgmlQ8_0, 4)).find("not a multiple of the Q8_0 block size"),
      std::string::npos);
  EXPECT_NE(parse_error(patched(b_offset, 33, 8)).find("not a multiple of the alignment"),
            std::string::npos);
  EXPECT_NE(parse_error(patched(b_offset, 1 << 20, 8)).find("run past its end"), std::string::npos);
  EXPECT_NE(parse_error(patched(b_offset, 0, 8)).find("overlap"), std::string::npos);
  EXPECT_NE(parse_error(patched(b + 8, 'a', 1)).find("tensor 'a' appears twice"),
            std::string::npos);
  EXPECT_NE(parse_error(patched(good.find("u33") + 2, '2', 1)).find("key 'u32' appears twice"),
            std::string::npos);
}

TEST(Gguf, AlignmentKeyIsChecked) {
  fs::path dir = temp_dir();
  for (uint32_t alignment : {0u, 3u, 48u}) {
    GgufWriter w;
    w.add("general.alignment", GgufValue::u32(alignment));
    w.write(dir / "a.gguf");
    EXPECT_NE(parse_error(slurp(dir / "a.gguf")).find("expected a UINT32 power of two"),
              std::string::npos);
  }
  GgufWriter w;
  w.add("general.alignment", GgufValue::str("32"));
  w.write(dir / "b.gguf");
  EXPECT_NE(parse_error(slurp(dir / "b.gguf")).find("power of two, got STRING"), std::string::npos);
  GgufWriter ok;
  ok.add("general.alignment", GgufValue::u32(64));
  ok.write(dir / "c.gguf");
  EXPECT_EQ(parse(slurp(dir / "c.gguf")).alignment, 64u);
}

TEST(Gguf, HalfConversionRoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(fp32_to_fp16(f), h) << h;
  }
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // rounds to infinity
  EXPECT_EQ(fp32_to_fp16(65519.0f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(5.9604644775390625e-8f), 0x0001);   // smallest subnormal
  EXPECT_EQ(fp32_to_fp16(2.98023223876953125e-8f), 0x0000);  // half of it: ties to even
  EXPECT_EQ(bf16_to_fp32(fp32_to_bf16(1.0f)), 1.0f);
}

TEST(Gguf, HalfBf16AndQ8_0MatchGgufPy) {
  DPO_REQUIRE_PYTHON_MODULES("gguf");
  fs::path dir = temp_dir();
  std::vector<float> x = random_floats(32 * 64, 1);
  put_bytes(dir / "x.f32", x.data(), x.size() * 4);
  std::vector<uint8_t> q8(x.size() / 32 * 34);
  quantize_q8_0(x.data(), static_cast<int64_t>(x.size()), q8.data());
  std::vector<uint8_t> f16(x.size() * 2), bf16(x.size() * 2);
  for (size_t k = 0; k < x.size(); ++k) {
    uint16_t h = fp32_to_fp16(x[k]), b = fp32_to_bf16(x[k]);
    std::memcpy(&f16[2 * k], &h, 2);
    std::memcpy(&bf16[2 * k], &b, 2);
  }
  for (auto [type, ours] : {std::pair<const char*, std::vector<uint8_t>*>{"Q8_0", &q8},
                            {"F16", &f16},
                            {"BF16", &bf16}}) {
    fs::path theirs = dir / (std::string(type) + ".bin");
    ASSERT_EQ(python(std::string("quantize ") + type + " '" + (dir / "x.f32").string() + "' '" +
                     theirs.string() + "'"),
              0);
    std::string bytes = slurp(theirs);
    ASSERT_EQ(bytes.size(), ours->size()) << type;
    EXPECT_EQ(std::memcmp(bytes.data(), ours->data(), bytes.size()), 0) << type;
  }
}

TEST(Gguf, DequantizationMatchesGgufPyBitForBit) {
  DPO_REQUIRE_PYTHON_MODULES("gguf");
  fs::path dir = temp_dir();
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-2.0f, 2.0f);
  // type, block bytes, offsets of fp16 fields in a block (kept finite so NaN payloads never matter)
  struct Case {
    uint32_t type;
    std::vector<size_t> halves;
  };
  const std::vector<Case> cases = {{kGgmlQ8_0, {0}},    {kGgmlQ4_0, {0}},    {kGgmlQ4_1, {0, 2}},
                                   {kGgmlQ4_K, {0, 2}}, {kGgmlQ5_K, {0, 2}}, {kGgmlQ6_K, {208}},
                                   {kGgmlF16, {}},      {kGgmlBF16, {}},     {kGgmlF32, {}}};
  for (const Case& c : cases) {
    const GgmlTypeInfo* info = ggml_type_info(c.type);
    const int64_t n = 256 * 16;
    std::vector<uint8_t> raw(static_cast<size_t>(n / info->block_size * info->type_size));
    for (auto& b : raw) b = static_cast<uint8_t>(byte(rng));
    if (c.type == kGgmlF16 || c.type == kGgmlBF16 || c.type == kGgmlF32) {
      std::vector<float> x = random_floats(static_cast<size_t>(n), 3);
      for (int64_t k = 0; k < n; ++k) {
        if (c.type == kGgmlF32) std::memcpy(&raw[4 * k], &x[k], 4);
        uint16_t h = c.type == kGgmlF16 ? fp32_to_fp16(x[k]) : fp32_to_bf16(x[k]);
        if (c.type != kGgmlF32) std::memcpy(&raw[2 * k], &h, 2);
      }
    }
    for (size_t block = 0; block < raw.size() / info->type_size; ++block)
      for (size_t offset : c.halves) {
        uint16_t h = fp32_to_fp16(scale(rng) * (block % 3 == 0 ? 1e-3f : 1.0f));
        std::memcpy(&raw[block * info->type_size + offset], &h, 2);
      }
    put_bytes(dir / "raw.bin", raw.data(), raw.size());
    std::vector<float> ours(static_cast<size_t>(n));
    dequantize(c.type, raw.data(), n, ours.data(), "test");
    ASSERT_EQ(python(std::string("dequant ") + info->name + " '" + (dir / "raw.bin").string() +
                     "' '" + (dir / "out.bin").string() + "'"),
              0)
        << info->name;
    std::string theirs = slurp(dir / "out.bin");
    ASSERT_EQ(theirs.size(), ours.size() * 4) << info->name;
    size_t mismatches = 0;
    for (size_t k = 0; k < ours.size(); ++k) {
      uint32_t a, b;
      std::memcpy(&a, &ours[k], 4);
      std::memcpy(&b, theirs.data() + 4 * k, 4);
      if (a != b && ++mismatches <= 3)
        ADD_FAILURE() << info->name << " element " << k << ": " << ours[k] << " vs "
                      << *reinterpret_cast<const float*>(theirs.data() + 4 * k);
    }
    EXPECT_EQ(mismatches, 0u) << info->name;
  }
}

TEST(Gguf, UnsupportedTypesAreNamed) {
  std::vector<uint8_t> raw(110);
  std::vector<float> out(256);
  try {
    dequantize(kGgmlQ3_K, raw.data(), 256, out.data(), "model.gguf: tensor 'x'");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor type Q3_K cannot be read (supported: F32, F16, "
                                         "BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)"),
              std::string::npos)
        << e.what();
  }
}

TEST(GgufModel, NamesMapBothWays) {
  const std::vector<std::pair<std::string, std::string>> names = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
      {"model.layers.12.self_attn.q_proj.bias", "blk.12.attn_q.bias"},
      {"model.layers.1.self_attn.o_proj.weight", "blk.1.attn_output.weight"},
      {"model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight"},
      {"model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight"}};
  for (const auto& [hf, gguf] : names) {
    EXPECT_EQ(gguf_tensor_name(hf), gguf);
    EXPECT_EQ(hf_tensor_name(gguf), hf);
  }
  EXPECT_EQ(gguf_tensor_name("model.layers.0.self_attn.rotary_emb.inv_freq"), "");
  EXPECT_EQ(hf_tensor_name("blk.0.attn_qkv.weight"), "");
}

TEST(GgufModel, TitleAndSizeLabelAsGgufPy) {
  EXPECT_EQ(gguf_title("model"), "Model");
  EXPECT_EQ(gguf_title("TinyLlama-1.1B-Chat-v1.0"), "TinyLlama 1.1B Chat v1.0");
  EXPECT_EQ(gguf_title("my-model-v2"), "My Model v2");
  EXPECT_EQ(gguf_size_label(2'100'000), "2.1M");
  EXPECT_EQ(gguf_size_label(134'515'008), "135M");
  EXPECT_EQ(gguf_size_label(1'100'048'384), "1.1B");
  EXPECT_EQ(gguf_size_label(400), "0.40K");
}
