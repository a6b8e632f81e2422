// GGUF as input: a fixture model exported as GGUF loads back with the same weights and logits as
// its Hugging Face folder (f32 exactly), a q8_0 export gives transformers' GGUF loading's logits
// of the same file within 1e-4, and bad GGUF models are clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fixture_util.h"
#include "io/gguf_export.h"
#include "io/gguf_load.h"
#include "io/gguf_quants.h"
#include "model/llama.h"
#include "python_reference.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace dpo;

namespace {

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_gguf_input_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

fs::path export_fixture(const std::string& kind, const fs::path& dir, uint32_t type) {
  fs::path model_dir = dpo::testing::fixture_dir(kind) / "model";
  LlamaModel model = LlamaModel::load(model_dir, at::kFloat, at::kCPU);
  fs::path out = dir / (kind + ".gguf");
  write_gguf_model(out, model_dir, model.config(), model.named_parameters(), type);
  return out;
}

at::Tensor logits_of(const LlamaModel& model, const std::vector<int64_t>& ids) {
  ModelInput input;
  input.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);
  return model.logits(model.forward_hidden(input))[0];  // (T, V)
}

const std::vector<int64_t> kIds = {1, 415, 5565, 302, 11170, 349, 28705, 13, 2};

}  // namespace

TEST(GgufInput, F32ExportLoadsBackExactly) {
  fs::path dir = temp_dir();
  for (const char* kind : {"llama", "qwen2"}) {
    fs::path file = export_fixture(kind, dir, kGgmlF32);
    LlamaModel hf =
        LlamaModel::load(dpo::testing::fixture_dir(kind) / "model", at::kFloat, at::kCPU);
    LlamaModel gguf = LlamaModel::load(file, at::kFloat, at::kCPU);
    EXPECT_EQ(gguf.config().model_type, hf.config().model_type);
    EXPECT_EQ(gguf.config().tie_word_embeddings, hf.config().tie_word_embeddings);
    EXPECT_EQ(gguf.config().attention_bias, hf.config().attention_bias);
    EXPECT_EQ(gguf.config().rope.theta, hf.config().rope.theta);
    auto a = hf.named_parameters(), b = gguf.named_parameters();
    ASSERT_EQ(a.size(), b.size()) << kind;
    for (size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].first, b[k].first);
      EXPECT_TRUE(at::equal(a[k].second, b[k].second)) << kind << " " << a[k].first;
    }
    EXPECT_TRUE(at::equal(logits_of(hf, kIds), logits_of(gguf, kIds))) << kind;
  }
}

TEST(GgufInput, Q8_0LogitsMatchTransformersGgufLoading) {
  DPO_REQUIRE_PYTHON_MODULES("gguf", "transformers", "torch");
  fs::path dir = temp_dir();
  for (const char* kind : {"llama", "qwen2"}) {
    fs::path file = export_fixture(kind, dir, kGgmlQ8_0);
    LlamaModel gguf = LlamaModel::load(file, at::kFloat, at::kCPU);
    at::Tensor ours = logits_of(gguf, kIds);
    std::string ids;
    for (int64_t id : kIds) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    fs::path out = dir / (std::string(kind) + ".logits");
    std::string command = std::string("'") + DPO_PYTHON + "' '" + DPO_SOURCE_DIR +
                          "/tests/model/gguf_transformers.py' logits '" + file.string() + "' " +
                          ids + " '" + out.string() + "' > /dev/null 2>&1";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream in(out, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string bytes = buffer.str();
    ASSERT_EQ(bytes.size(), static_cast<size_t>(ours.numel()) * 4) << kind;
    at::Tensor theirs = at::from_blob(bytes.data(), ours.sizes(), at::kFloat).clone();
    const double max_diff = (ours - theirs).abs().max().item<double>();
    EXPECT_LT(max_diff, 1e-4) << kind;
  }
}

TEST(GgufInput, BadModelsAreClearErrors) {
  fs::path dir = temp_dir();
  // An adapter file is not a model.
  LlamaModel model =
      LlamaModel::load(dpo::testing::fixture_dir("llama") / "model", at::kFloat, at::kCPU);
  fs::path adapter = dir / "adapter.gguf";
  write_gguf_lora(adapter, dir, model.config(),
                  {{"model.layers.0.self_attn.q_proj", at::zeros({4, 32}), at::zeros({32, 4})}}, 8,
                  kGgmlF32);
  try {
    LlamaModel::load(adapter, at::kFloat, at::kCPU);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("a GGUF adapter (general.type adapter), not a model"),
              std::string::npos)
        << e.what();
  }
  // Truncated: the error names the file.
  fs::path file = export_fixture("llama", dir, kGgmlF32);
  fs::resize_file(file, fs::file_size(file) / 2);
  try {
    LlamaModel::load(file, at::kFloat, at::kCPU);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("run past its end"), std::string::npos) << e.what();
  }
}
