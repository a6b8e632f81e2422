// yarn and longrope (and llama3 alongside) against transformers 5.23's own RoPE functions: the
// inverse frequencies, the attention scaling and the cos/sin tables of the rotary embedding for
// positions below, at and past original_max_position_embeddings, from configs read as config.json
// (classic rope_scaling and transformers 5's rope_parameters). The reference is computed at test
// time by tests/model/rope_reference.py. Shape legend: T time, D head dim.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/rope.h"
#include "python_reference.h"
#include "util/fs.h"

using namespace dpo;
using namespace dpo::testing;
namespace fs = std::filesystem;

namespace {

// fp32 against fp32: the same operations in the same order, so equal up to libm's last bits.
constexpr double kRtol = 1e-6;
constexpr double kAtol = 1e-7;

// Why the reference cannot run ("" when it can), asked once: each ask imports the modules anew.
const std::string& missing_reference() {
  static const std::string missing = missing_python_modules({"transformers", "torch"});
  return missing;
}

// The reference's cases, computed once per test binary run (null when the script failed).
const nlohmann::json& reference() {
  static const nlohmann::json cases = [] {
    fs::path out = fs::temp_directory_path() / ("dpo_rope_" + std::to_string(::getpid()) + ".json");
    std::string command = std::string("'") + DPO_PYTHON + "' '" + DPO_SOURCE_DIR +
                          "/tests/model/rope_reference.py' > '" + out.string() + "' 2>/dev/null";
    if (std::system(command.c_str()) != 0) return nlohmann::json();
    nlohmann::json parsed = nlohmann::json::parse(read_file(out));
    fs::remove(out);
    return parsed;
  }();
  return cases;
}

at::Tensor floats(const nlohmann::json& values) {
  return at::tensor(values.get<std::vector<float>>(), at::kFloat);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

void expect_close(const at::Tensor& ours, const at::Tensor& theirs, const std::string& what) {
  ASSERT_EQ(ours.sizes(), theirs.sizes()) << what;
  EXPECT_TRUE(at::allclose(ours, theirs, kRtol, kAtol))
      << what << ": max |diff| " << max_abs_diff(ours, theirs);
}

class RopeScaling : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!missing_reference().empty()) {
      if (running_under_ci()) FAIL() << missing_reference();
      GTEST_SKIP() << missing_reference();
    }
    ASSERT_TRUE(reference().is_array()) << "tests/model/rope_reference.py failed";
  }
};

TEST_F(RopeScaling, InverseFrequenciesScalingAndCosSinEqualTransformers) {
  size_t longrope_cases = 0, yarn_cases = 0;
  for (const auto& c : reference()) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    ModelConfig config = ModelConfig::from_json_text(c["config"].dump(), name);
    RotaryEmbedding rope(config);
    EXPECT_NEAR(rope.attention_scaling(), c["attention_scaling"].get<double>(), 1e-12);
    expect_close(rope.inv_freq(0), floats(c["inv_freq"]), "inv_freq");
    double worst = 0;
    if (config.rope.type == "longrope") {
      ++longrope_cases;
      const int64_t original = config.rope.original_max_position_embeddings;
      expect_close(rope.inv_freq(original - 1), floats(c["inv_freq"]), "inv_freq at original");
      expect_close(rope.inv_freq(original), floats(c["long_inv_freq"]), "long inv_freq");
    }
    yarn_cases += config.rope.type == "yarn";
    for (size_t i = 0; i < c["positions"].size(); ++i) {
      std::vector<int64_t> positions = c["positions"][i];
      const int64_t T = static_cast<int64_t>(positions.size());
      at::Tensor ids = at::tensor(positions, at::kLong).unsqueeze(0);  // (1, T)
      auto [cos, sin] = rope.cos_sin(ids, at::kFloat);                 // (1, T, D)
      const int64_t D = config.head_dim;
      at::Tensor want_cos = floats(c["cos"][i]).reshape({T, D});
      at::Tensor want_sin = floats(c["sin"][i]).reshape({T, D});
      expect_close(cos[0], want_cos, "cos of positions " + std::to_string(i));
      expect_close(sin[0], want_sin, "sin of positions " + std::to_string(i));
      worst = std::max({worst, max_abs_diff(cos[0], want_cos), max_abs_diff(sin[0], want_sin)});
    }
    std::printf("[ rope     ] %-36s cos/sin max |diff| %.3g\n", name.c_str(), worst);
    // What we would write for this config reads back as the same RoPE.
    RotaryEmbedding again(ModelConfig::from_json_text(config.to_json_text(), "again"));
    EXPECT_TRUE(at::equal(again.inv_freq(0), rope.inv_freq(0)));
    EXPECT_TRUE(at::equal(again.inv_freq(1 << 20), rope.inv_freq(1 << 20)));
    EXPECT_EQ(again.attention_scaling(), rope.attention_scaling());
  }
  EXPECT_GE(yarn_cases, 5u);
  EXPECT_GE(longrope_cases, 3u);
}

}  // namespace
