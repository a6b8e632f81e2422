// The tokenizer of a GGUF model file equals transformers' tokenizer built from the same file
// (AutoTokenizer.from_pretrained(dir, gguf_file=...)), and a file without one is a clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "data/model_tokenizer.h"
#include "io/gguf.h"
#include "io/gguf_export.h"
#include "io/gguf_quants.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "python_reference.h"
#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;
using namespace dpo;

namespace {

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_gguf_tok_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const std::vector<std::string> kTexts = {
    "Hello world",
    "The capital of Ireland is",
    "  two  spaces\nnewline \xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 </s> <s>x",
    "",
    "1234567 + 89 = ?!",
};

}  // namespace

TEST(GgufTokenizer, MatchesTransformersGgufTokenizer) {
  DPO_REQUIRE_PYTHON_MODULES("gguf", "transformers");
  fs::path dir = temp_dir();
  fs::path model_dir = fs::path(DPO_FIXTURES) / "hf" / "llama" / "model";
  ModelConfig config = ModelConfig::from_file(model_dir / "config.json");
  // Only the embedding is needed for a file transformers can read the tokenizer of.
  auto tensors = load_safetensors_dir(model_dir);
  std::vector<std::pair<std::string, at::Tensor>> named(tensors.begin(), tensors.end());
  fs::path file = dir / "model.gguf";
  write_gguf_model(file, model_dir, config, named, kGgmlF16);

  Tokenizer ours = load_model_tokenizer(file);
  write_file_atomic(dir / "texts.json", nlohmann::json(kTexts).dump());
  std::string command = std::string("'") + DPO_PYTHON + "' '" + DPO_SOURCE_DIR +
                        "/tests/model/gguf_transformers.py' tokenize '" + file.string() + "' '" +
                        (dir / "texts.json").string() + "' 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe.get())) > 0) out.append(buffer, n);
  nlohmann::json theirs = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(theirs.is_array()) << out;
  ASSERT_EQ(theirs.size(), kTexts.size());
  for (size_t k = 0; k < kTexts.size(); ++k) {
    TokenIds ids = ours.encode(kTexts[k]);
    EXPECT_EQ(std::vector<int64_t>(ids.begin(), ids.end()), theirs[k].get<std::vector<int64_t>>())
        << kTexts[k];
  }
  EXPECT_EQ(ours.bos_id(), 1);
  EXPECT_EQ(ours.eos_id(), 2);
  EXPECT_EQ(ours.decode(ours.encode("Hello world"), true), "Hello world");
}

TEST(GgufTokenizer, MissingVocabularyIsAnError) {
  fs::path dir = temp_dir();
  GgufWriter w;
  w.add("general.architecture", GgufValue::str("llama"));
  w.write(dir / "novocab.gguf");
  try {
    load_model_tokenizer(dir / "novocab.gguf");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'tokenizer.ggml.model' is missing"),
              std::string::npos)
        << e.what();
  }
  GgufWriter u;
  u.add("tokenizer.ggml.model", GgufValue::str("bert"));
  u.write(dir / "bert.gguf");
  try {
    load_model_tokenizer(dir / "bert.gguf");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("'bert' is not supported (supported: llama, gpt2)"),
              std::string::npos)
        << e.what();
  }
}
