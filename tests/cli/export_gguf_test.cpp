// `dpo export gguf` / `dpo export gguf-lora` through the binary: every file read back by gguf-py,
// compared key by key and tensor by tensor with llama.cpp's convert_hf_to_gguf.py and
// convert_lora_to_gguf.py (when DPO_LLAMA_CPP_DIR names a llama.cpp source tree holding them,
// e.g. the vendor/llama.cpp of the llama-cpp-python sdist), and the output-safety errors.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "python_reference.h"

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(DPO_FIXTURES) / "hf";

struct Exec {
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_export_test_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

Exec run(const std::string& command, const fs::path& dir) {
  fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  int raw = std::system((command + " > '" + out.string() + "' 2> '" + err.string() + "'").c_str());
  Exec e;
  if (WIFEXITED(raw)) e.status = WEXITSTATUS(raw);
  e.out = slurp(out);
  e.err = slurp(err);
  return e;
}

Exec run_dpo(const std::string& arguments, const fs::path& dir) {
  return run(std::string(DPO_BINARY) + " " + arguments, dir);
}

std::string python() {
  return std::string("'") + DPO_PYTHON + "'";
}
std::string checker() {
  return "'" + std::string(DPO_SOURCE_DIR) + "/tests/io/gguf_check.py'";
}

// The llama.cpp tree with the converters, or "" (the test then skips, or fails under CI):
// DPO_LLAMA_CPP_DIR, else the one scripts/setup.sh unpacks into .venv/llama.cpp.
std::string llama_cpp_dir() {
  const char* dir = std::getenv("DPO_LLAMA_CPP_DIR");
  fs::path tree = dir && *dir ? fs::path(dir) : fs::path(DPO_SOURCE_DIR) / ".venv" / "llama.cpp";
  if (fs::exists(tree / "convert_hf_to_gguf.py")) return tree.string();
  return "";
}

#define DPO_REQUIRE_CONVERTERS()                                                                \
  do {                                                                                          \
    DPO_REQUIRE_PYTHON_MODULES("gguf", "torch", "transformers", "safetensors");                 \
    if (llama_cpp_dir().empty()) {                                                              \
      const char* why =                                                                         \
          "no llama.cpp tree with convert_hf_to_gguf.py in .venv/llama.cpp (scripts/setup.sh) " \
          "or DPO_LLAMA_CPP_DIR";                                                               \
      if (::dpo::testing::running_under_ci()) FAIL() << why;                                    \
      GTEST_SKIP() << why;                                                                      \
    }                                                                                           \
  } while (0)

// A copy of a fixture model folder named `model` (general.name comes from the folder's name).
fs::path model_copy(const std::string& kind, const fs::path& dir) {
  fs::path copy = dir / "src" / "model";
  fs::create_directories(copy.parent_path());
  fs::copy(kFixtures / kind / "model", copy, fs::copy_options::recursive);
  return copy;
}

void expect_gguf_py_reads(const fs::path& file, const fs::path& dir) {
  Exec e = run(python() + " " + checker() + " read '" + file.string() + "'", dir);
  EXPECT_EQ(e.status, 0) << e.err;
}

void expect_same_as(const fs::path& ours, const fs::path& theirs, const fs::path& dir,
                    const std::string& extra = "") {
  Exec e = run(python() + " " + checker() + " compare '" + ours.string() + "' '" + theirs.string() +
                   "' " + extra,
               dir);
  EXPECT_EQ(e.status, 0) << e.out << e.err;
}

void convert(const fs::path& model, const fs::path& out, const std::string& type,
             const fs::path& dir) {
  Exec e = run(python() + " '" + llama_cpp_dir() + "/convert_hf_to_gguf.py' '" + model.string() +
                   "' --outfile '" + out.string() + "' --outtype " + type,
               dir);
  ASSERT_EQ(e.status, 0) << e.err;
}

}  // namespace

TEST(ExportGguf, EveryTypeIsReadByGgufPy) {
  DPO_REQUIRE_PYTHON_MODULES("gguf");
  fs::path dir = temp_dir();
  for (const char* kind : {"llama", "llama3rope", "qwen2"})
    for (const char* type : {"f32", "f16", "bf16", "q8_0"}) {
      fs::path out = dir / (std::string(kind) + "-" + type + ".gguf");
      Exec e = run_dpo("export gguf --model " + (kFixtures / kind / "model").string() +
                           " --output " + out.string() + " --type " + type + " --threads 1",
                       dir);
      ASSERT_EQ(e.status, 0) << e.err;
      EXPECT_EQ(e.out, out.string() + "\n");
      expect_gguf_py_reads(out, dir);
    }
}

TEST(ExportGguf, EqualsConvertHfToGguf) {
  DPO_REQUIRE_CONVERTERS();
  fs::path dir = temp_dir();
  // qwen2's fixture carries a SentencePiece-style tokenizer, which the converter's qwen2 path
  // (byte-level BPE only) refuses: Qwen2WithItsByteLevelTokenizer... below covers qwen2.
  for (const char* kind : {"llama", "llama3rope"}) {
    fs::path model = model_copy(kind, dir / kind);
    for (const char* type : {"f32", "f16", "bf16", "q8_0"}) {
      fs::path ours = dir / kind / (std::string("ours-") + type + ".gguf");
      fs::path theirs = dir / kind / (std::string("theirs-") + type + ".gguf");
      Exec e = run_dpo("export gguf --model " + model.string() + " --output " + ours.string() +
                           " --type " + type + " --threads 1",
                       dir);
      ASSERT_EQ(e.status, 0) << e.err;
      convert(model, theirs, type, dir);
      // rope_freqs: float32 powers, torch's vectorized pow against libm's (within 1e-6).
      expect_same_as(ours, theirs, dir, "--close rope_freqs.weight");
    }
  }
}

// The llama fixture with `rope` as its config.json's rope_scaling (instead of its
// rope_parameters, which both readers would take first).
static fs::path model_with_rope(const std::string& rope_json, const fs::path& dir) {
  fs::path model = model_copy("llama", dir);
  nlohmann::json config = nlohmann::json::parse(slurp(model / "config.json"));
  config.erase("rope_parameters");
  config["rope_theta"] = 10000.0;
  config["rope_scaling"] = nlohmann::json::parse(rope_json);
  std::ofstream(model / "config.json", std::ios::trunc) << config.dump(2) << "\n";
  return model;
}

// YaRN's keys (type, factor, original context, attention factor, betas) as the converter writes
// them; LongRoPE is refused, naming why.
TEST(ExportGguf, YarnEqualsConvertHfToGgufAndLongropeIsRefused) {
  DPO_REQUIRE_CONVERTERS();
  fs::path dir = temp_dir();
  const std::vector<std::string> ropes = {
      R"({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32})",
      R"({"type": "yarn", "factor": 2.0, "original_max_position_embeddings": 64,
          "attention_factor": 1.2, "beta_fast": 16.0, "beta_slow": 2.0})"};
  for (size_t i = 0; i < ropes.size(); ++i) {
    const std::string& rope = ropes[i];
    fs::path case_dir = dir / ("yarn" + std::to_string(i));
    fs::path model = model_with_rope(rope, case_dir);
    fs::path ours = case_dir / "ours.gguf", theirs = case_dir / "theirs.gguf";
    Exec e = run_dpo("export gguf --model " + model.string() + " --output " + ours.string() +
                         " --type f32 --threads 1",
                     dir);
    ASSERT_EQ(e.status, 0) << e.err;
    convert(model, theirs, "f32", dir);
    expect_same_as(ours, theirs, dir);
  }
  fs::path model = model_with_rope(
      R"({"rope_type": "longrope", "short_factor": [1, 1, 1, 1],
          "long_factor": [2, 2, 2, 2], "original_max_position_embeddings": 64})",
      dir / "longrope");
  Exec e = run_dpo("export gguf --model " + model.string() + " --output " +
                       (dir / "longrope.gguf").string() + " --type f32 --threads 1",
                   dir);
  EXPECT_EQ(e.status, 1);
  EXPECT_NE(e.err.find("LongRoPE scaling has no GGUF form for a llama model"), std::string::npos)
      << e.err;
}

// qwen2 with Qwen's own byte-level BPE tokenizer (tokenizer.ggml.pre "qwen2", merges, ByteLevel's
// add_bos/add_eos false), on a random model made for it. f32 only: the types' tensor conversions
// do not depend on the architecture (EqualsConvertHfToGguf), and each converter run over this
// vocabulary takes ~15 s.
TEST(ExportGguf, Qwen2WithItsByteLevelTokenizerEqualsConvertHfToGguf) {
  DPO_REQUIRE_CONVERTERS();
  fs::path dir = temp_dir();
  fs::path model = dir / "src" / "model";
  Exec made = run(python() + " '" + DPO_SOURCE_DIR + "/tests/cli/qwen2_byte_level_model.py' '" +
                      DPO_FIXTURES + "' '" + model.string() + "'",
                  dir);
  ASSERT_EQ(made.status, 0) << made.err;
  for (const char* type : {"f32"}) {
    fs::path ours = dir / (std::string("ours-") + type + ".gguf");
    fs::path theirs = dir / (std::string("theirs-") + type + ".gguf");
    Exec e = run_dpo("export gguf --model " + model.string() + " --output " + ours.string() +
                         " --type " + type + " --threads 1",
                     dir);
    ASSERT_EQ(e.status, 0) << e.err;
    convert(model, theirs, type, dir);
    expect_same_as(ours, theirs, dir);
  }
}

TEST(ExportGguf, MergedExportEqualsConverterOnMergedFolder) {
  DPO_REQUIRE_CONVERTERS();
  fs::path dir = temp_dir();
  fs::path merged = dir / "merged" / "model";
  Exec m = run_dpo("merge --model " + (kFixtures / "llama" / "model").string() + " --adapter " +
                       (kFixtures / "llama" / "adapter").string() + " --output " + merged.string() +
                       " --dtype f32 --threads 1",
                   dir);
  ASSERT_EQ(m.status, 0) << m.err;
  fs::path base = model_copy("llama", dir);
  fs::path ours = dir / "ours.gguf", theirs = dir / "theirs.gguf";
  Exec e = run_dpo("export gguf --model " + base.string() + " --adapter " +
                       (kFixtures / "llama" / "adapter").string() + " --output " + ours.string() +
                       " --type f32 --threads 1",
                   dir);
  ASSERT_EQ(e.status, 0) << e.err;
  convert(merged, theirs, "f32", dir);
  expect_same_as(ours, theirs, dir);
}

TEST(ExportGguf, LoraEqualsConvertLoraToGguf) {
  DPO_REQUIRE_CONVERTERS();
  fs::path dir = temp_dir();
  for (const char* kind : {"llama", "qwen2"})
    for (const char* type : {"f32", "q8_0"}) {
      fs::path adapter = dir / kind / "adapter";
      fs::create_directories(adapter.parent_path());
      if (!fs::exists(adapter))
        fs::copy(kFixtures / kind / "adapter", adapter, fs::copy_options::recursive);
      fs::path ours = dir / kind / (std::string("ours-") + type + ".gguf");
      fs::path theirs = dir / kind / (std::string("theirs-") + type + ".gguf");
      Exec e = run_dpo("export gguf-lora --model " + (kFixtures / kind / "model").string() +
                           " --adapter " + adapter.string() + " --output " + ours.string() +
                           " --type " + type,
                       dir);
      ASSERT_EQ(e.status, 0) << e.err;
      expect_gguf_py_reads(ours, dir);
      Exec c = run(python() + " '" + llama_cpp_dir() + "/convert_lora_to_gguf.py' '" +
                       adapter.string() + "' --base '" + (kFixtures / kind / "model").string() +
                       "' --outfile '" + theirs.string() + "' --outtype " + type,
                   dir);
      ASSERT_EQ(c.status, 0) << c.err;
      expect_same_as(ours, theirs, dir);
    }
}

TEST(ExportGguf, OutputSafety) {
  fs::path dir = temp_dir();
  const std::string model = " --model " + (kFixtures / "llama" / "model").string();
  const std::string adapter = " --adapter " + (kFixtures / "llama" / "adapter").string();
  fs::path out = dir / "out.gguf";
  {
    std::ofstream(out) << "not mine";
    Exec e = run_dpo("export gguf" + model + " --output " + out.string(), dir);
    EXPECT_EQ(e.status, 1);
    EXPECT_NE(e.err.find("--output " + out.string() + " exists; pass --overwrite to replace it"),
              std::string::npos)
        << e.err;
    EXPECT_EQ(slurp(out), "not mine");
    Exec lora = run_dpo("export gguf-lora" + model + adapter + " --output " + out.string(), dir);
    EXPECT_EQ(lora.status, 1);
    EXPECT_NE(lora.err.find("exists; pass --overwrite"), std::string::npos) << lora.err;
    Exec ok = run_dpo(
        "export gguf" + model + " --output " + out.string() + " --overwrite --type q8_0", dir);
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_EQ(slurp(out).substr(0, 4), "GGUF");
  }
  // Inside an input folder (a copy, so nothing is ever written into the fixtures).
  fs::path copy = model_copy("llama", dir);
  Exec inside = run_dpo(
      "export gguf --model " + copy.string() + " --output " + (copy / "m.gguf").string(), dir);
  EXPECT_EQ(inside.status, 1);
  EXPECT_NE(inside.err.find("is inside the --model folder"), std::string::npos) << inside.err;
  EXPECT_FALSE(fs::exists(copy / "m.gguf"));
  Exec name = run_dpo("export gguf" + model + " --output " + (dir / "m.bin").string(), dir);
  EXPECT_EQ(name.status, 1);
  EXPECT_NE(name.err.find("expected a file name ending in .gguf"), std::string::npos) << name.err;
  fs::create_directories(dir / "folder.gguf");
  Exec folder = run_dpo("export gguf" + model + " --output " + (dir / "folder.gguf").string(), dir);
  EXPECT_EQ(folder.status, 1);
  EXPECT_NE(folder.err.find("is a folder; give the path of the .gguf file"), std::string::npos)
      << folder.err;
  Exec type = run_dpo(
      "export gguf" + model + " --output " + (dir / "t.gguf").string() + " --type q4_0", dir);
  EXPECT_EQ(type.status, 1);
  EXPECT_NE(
      type.err.find("--type: 'q4_0' is not a GGUF export type (expected f32, f16, bf16 or q8_0)"),
      std::string::npos)
      << type.err;
  Exec missing = run_dpo(
      "export gguf --model " + dir.string() + " --output " + (dir / "x.gguf").string(), dir);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("no config.json"), std::string::npos) << missing.err;
  Exec help = run_dpo("export gguf --help", dir);
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--overwrite"), std::string::npos);
  Exec lora_help = run_dpo("export gguf-lora --help", dir);
  EXPECT_EQ(lora_help.status, 0);
  EXPECT_NE(lora_help.out.find("--adapter"), std::string::npos);
}

TEST(ExportGguf, FromGgufToTrainedLoraAndBack) {
  DPO_REQUIRE_PYTHON_MODULES("gguf");
  fs::path dir = temp_dir();
  fs::path model = dir / "tiny.gguf";
  Exec e = run_dpo("export gguf --model " + (kFixtures / "llama" / "model").string() +
                       " --output " + model.string() + " --type q8_0 --threads 1",
                   dir);
  ASSERT_EQ(e.status, 0) << e.err;
  std::ofstream(dir / "t.yaml") << "model_name_or_path: " << model.string()
                                << "\ndataset: " << DPO_SOURCE_DIR
                                << "/examples/data/tiny_pairs.jsonl\n"
                                << "max_length: 64\nmax_steps: 1\noutput_dir: "
                                << (dir / "run").string() << "\neval_prompts: []\nthreads: 1\n";
  Exec train = run_dpo("train " + (dir / "t.yaml").string(), dir);
  ASSERT_EQ(train.status, 0) << train.err;
  EXPECT_TRUE(fs::exists(dir / "run" / "tokenizer.json"));  // the GGUF's vocabulary, as files
  fs::path lora = dir / "lora.gguf";
  Exec export_lora = run_dpo("export gguf-lora --model " + model.string() + " --adapter " +
                                 (dir / "run").string() + " --output " + lora.string(),
                             dir);
  ASSERT_EQ(export_lora.status, 0) << export_lora.err;
  expect_gguf_py_reads(lora, dir);
  fs::path merged = dir / "merged.gguf";
  Exec export_merged =
      run_dpo("export gguf --model " + model.string() + " --adapter " + (dir / "run").string() +
                  " --output " + merged.string() + " --threads 1",
              dir);
  ASSERT_EQ(export_merged.status, 0) << export_merged.err;
  expect_gguf_py_reads(merged, dir);
  Exec generate = run_dpo(
      "generate --model " + merged.string() + " --prompt Hello --max-new-tokens 3 --threads 1",
      dir);
  EXPECT_EQ(generate.status, 0) << generate.err;
}
