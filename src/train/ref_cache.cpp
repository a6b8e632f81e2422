#include "train/ref_cache.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "io/safetensors.h"
#include "util/fs.h"
#include "util/log.h"

namespace dpo {

void Hasher::add_bytes(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  constexpr uint64_t kPrime = 0x100000001b3ull;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    state_ = (state_ ^ word) * kPrime;
    state_ ^= state_ >> 29;
  }
  for (; i < size; ++i) state_ = (state_ ^ bytes[i]) * kPrime;
  state_ = (state_ ^ size) * kPrime;
}

void Hasher::add_string(const std::string& text) {
  add_bytes(text.data(), text.size());
}
void Hasher::add_int(int64_t value) {
  add_bytes(&value, sizeof(value));
}

void Hasher::add_tensor(const at::Tensor& tensor) {
  at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
  add_string(std::string(c10::toString(cpu.scalar_type())));
  for (int64_t size : cpu.sizes()) add_int(size);
  add_bytes(cpu.data_ptr(), cpu.numel() * cpu.element_size());
}

std::string Hasher::hex() const {
  return fmt::format("{:016x}", state_);
}

namespace {

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
    weights.add_tensor(tensor);
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

std::optional<CachedRefLogps> load_ref_cache(const std::filesystem::path& dir,
                                             const std::string& key, int64_t train_size,
                                             int64_t eval_size) {
  fs::path file = dir / (key + ".safetensors");
  if (!fs::exists(file)) return std::nullopt;
  try {
    auto tensors = load_safetensors(file);
    CachedRefLogps cached;
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
                    const CachedRefLogps& logps) {
  ensure_directory(dir);
  auto cpu = [](const at::Tensor& t) {
    return t.detach().to(at::kCPU).to(at::kFloat).contiguous();
  };
  save_safetensors(dir / (key + ".safetensors"), {{"train_chosen", cpu(logps.train.chosen)},
                                                  {"train_rejected", cpu(logps.train.rejected)},
                                                  {"eval_chosen", cpu(logps.eval.chosen)},
                                                  {"eval_rejected", cpu(logps.eval.rejected)}});
}

RefLogpsTable gather_ref_logps(const RefLogpsTable& table, const std::vector<int64_t>& positions) {
  at::Tensor index = at::tensor(positions, at::kLong);
  return {table.chosen.index_select(0, index), table.rejected.index_select(0, index)};
}

}  // namespace dpo
