#include "train/ref_cache.h"

#include <fmt/format.h>

#include <cstdlib>

#include "io/safetensors.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"

namespace dpo {

namespace {

// dtype, shape and contents.
void hash_tensor(Hasher& hasher, const at::Tensor& tensor) {
  at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
  hasher.add_string(std::string(c10::toString(cpu.scalar_type())));
  for (int64_t size : cpu.sizes()) hasher.add_int(size);
  hasher.add_bytes(cpu.data_ptr(), cpu.numel() * cpu.element_size());
}

void hash_examples(Hasher& hasher, const std::vector<PreferenceExample>* examples) {
  if (!examples) {
    hasher.add_int(-1);
    return;
  }
  hasher.add_int(static_cast<int64_t>(examples->size()));
  for (const auto& example : *examples)
    for (const TokenIds* ids : {&example.prompt_ids, &example.chosen_ids, &example.rejected_ids})
      hasher.add_bytes(ids->data(), ids->size() * sizeof(TokenId));
}

}  // namespace

std::string ref_cache_key(const RefCacheKeyInput& input) {
  Hasher weights, data;
  for (const auto& [name, tensor] : input.model->named_parameters()) {
    weights.add_string(name);
    hash_tensor(weights, tensor);
  }
  hash_examples(data, input.train);
  hash_examples(data, input.eval);
  Hasher all;
  all.add_string(weights.hex());
  all.add_string(data.hex());
  all.add_string(input.settings);
  return all.hex();
}

std::filesystem::path ref_cache_dir(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "dpo.cpp" / "ref_logps";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "dpo.cpp" / "ref_logps";
  return std::filesystem::path(".dpo_cache") / "ref_logps";
}

std::optional<RefTables> load_ref_cache(const std::filesystem::path& dir, const std::string& key,
                                        int64_t train_size, int64_t eval_size) {
  fs::path file = dir / (key + ".safetensors");
  if (!fs::exists(file)) return std::nullopt;
  try {
    auto tensors = load_safetensors(file);
    RefTables cached;
    cached.train = {tensors.at("train_chosen"), tensors.at("train_rejected")};
    cached.eval = {tensors.at("eval_chosen"), tensors.at("eval_rejected")};
    if (cached.train.chosen.numel() != train_size || cached.eval.chosen.numel() != eval_size)
      return std::nullopt;
    return cached;
  } catch (const std::exception& e) {
    log_warn("reference cache {} unreadable ({}); recomputing", file.string(), e.what());
    return std::nullopt;
  }
}

void save_ref_cache(const std::filesystem::path& dir, const std::string& key,
                    const RefTables& logps) {
  ensure_directory(dir);
  auto cpu = [](const at::Tensor& t) {
    return t.detach().to(at::kCPU).to(at::kFloat).contiguous();
  };
  save_safetensors(dir / (key + ".safetensors"), {{"train_chosen", cpu(logps.train.chosen)},
                                                  {"train_rejected", cpu(logps.train.rejected)},
                                                  {"eval_chosen", cpu(logps.eval.chosen)},
                                                  {"eval_rejected", cpu(logps.eval.rejected)}});
}

}  // namespace dpo
