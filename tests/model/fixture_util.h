// Shared helpers for the model tests: the reference fixtures of tests/fixtures/hf/<kind>.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/model_input.h"
#include "io/safetensors.h"
#include "util/fs.h"

namespace dpo::testing {

// tests/fixtures/hf/<kind>; DPO_FIXTURES_DIR (the folder holding hf/) overrides the build's
// source tree, for test binaries run elsewhere (the GPU bundle, scripts/gpu_bundle.sh).
inline std::filesystem::path fixture_dir(const std::string& kind) {
  const char* moved = std::getenv("DPO_FIXTURES_DIR");
  return std::filesystem::path(moved && *moved ? moved : DPO_FIXTURES) / "hf" / kind;
}

struct Fixture {
  nlohmann::json expected;                    // expected.json
  std::map<std::string, at::Tensor> tensors;  // expected.safetensors
  // prompt + chosen and prompt + rejected of every pair: {"pair0.chosen", ids}, ...
  std::vector<std::pair<std::string, std::vector<int64_t>>> sequences;
};

inline Fixture load_fixture(const std::string& kind) {
  Fixture f;
  f.expected = nlohmann::json::parse(read_file(fixture_dir(kind) / "expected.json"));
  f.tensors = load_safetensors(fixture_dir(kind) / "expected.safetensors");
  int i = 0;
  for (const auto& pair : f.expected["pairs"]) {
    for (const char* side : {"chosen", "rejected"}) {
      std::vector<int64_t> ids = pair["prompt_ids"].get<std::vector<int64_t>>();
      for (int64_t id : pair[std::string(side) + "_ids"]) ids.push_back(id);
      f.sequences.emplace_back("pair" + std::to_string(i) + "." + side, ids);
    }
    ++i;
  }
  return f;
}

// The fixture's sequences packed back to back: rows[r] lists the sequences of row r; rows as wide
// as the longest row plus `tail` padding tokens (segment -1). segment_ids are the sequence
// numbers; positions (when given) receive the positions restarting at 0 for every sequence.
inline ModelInput packed_fixture_input(const Fixture& f, const std::vector<std::vector<int>>& rows,
                                       int64_t tail, at::Tensor* positions = nullptr) {
  const auto& seqs = f.sequences;
  auto length = [&](int s) {
    return static_cast<int64_t>(seqs[static_cast<size_t>(s)].second.size());
  };
  int64_t T = 0;
  for (const auto& row : rows) {
    int64_t used = 0;
    for (int s : row) used += length(s);
    T = std::max(T, used + tail);
  }
  const int64_t N = static_cast<int64_t>(rows.size());
  ModelInput packed;
  packed.input_ids = at::zeros({N, T}, at::kLong);
  packed.segment_ids = at::full({N, T}, -1, at::kLong);
  at::Tensor restarting = at::zeros({N, T}, at::kLong);
  for (int64_t r = 0; r < N; ++r) {
    int64_t at_t = 0;
    for (int s : rows[static_cast<size_t>(r)]) {
      const auto& ids = seqs[static_cast<size_t>(s)].second;
      packed.input_ids[r].narrow(0, at_t, length(s)).copy_(at::tensor(ids, at::kLong));
      packed.segment_ids[r].narrow(0, at_t, length(s)).fill_(s);
      restarting[r].narrow(0, at_t, length(s)).copy_(at::arange(length(s), at::kLong));
      at_t += length(s);
    }
  }
  if (positions) *positions = restarting;
  return packed;
}

inline at::Tensor ids_tensor(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::kLong).unsqueeze(0);  // (1, T)
}

// log p(id_t | < t) for t = 1..T-1 from logits (T, V) and ids (T).
inline at::Tensor token_logps(const at::Tensor& logits, const at::Tensor& ids) {
  int64_t T = ids.size(0);
  at::Tensor logp = at::log_softmax(logits.narrow(0, 0, T - 1).to(at::kFloat), -1);  // (T-1, V)
  return logp.gather(1, ids.narrow(0, 1, T - 1).unsqueeze(1).to(logp.device())).squeeze(1);
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kCPU, at::kFloat) - b.to(at::kCPU, at::kFloat)).abs().max().item<double>();
}

// |a - b| <= atol + rtol * |b| everywhere; prints the max abs difference.
inline void expect_close(const at::Tensor& actual, const at::Tensor& expected, double rtol,
                         double atol, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  at::Tensor a = actual.to(at::kCPU, at::kFloat), b = expected.to(at::kCPU, at::kFloat);
  double diff = max_abs_diff(a, b);
  std::printf("  %-36s max abs diff %.3g\n", what.c_str(), diff);
  EXPECT_TRUE(at::allclose(a, b, rtol, atol)) << what << ": max abs diff " << diff;
}

}  // namespace dpo::testing
