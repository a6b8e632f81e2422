// safetensors files: bounds-checked reading (mmap) and atomic writing, sharded models.
// Header parsing is plain C++ (io/safetensors_header.h); this file turns entries into tensors.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dpo {

// One open safetensors file. Tensors view the mapping without copying where possible, so the
// file object must outlive them unless `load(name, /*copy=*/true)` is used.
class SafetensorsFile {
 public:
  // UserError naming the file (and the tensor) for any malformed header or out-of-range entry.
  static std::shared_ptr<SafetensorsFile> open(const std::filesystem::path& path);
  virtual ~SafetensorsFile() = default;

  virtual const std::filesystem::path& path() const = 0;
  virtual std::vector<std::string> names() const = 0;  // in file order
  virtual bool contains(const std::string& name) const = 0;
  virtual std::vector<int64_t> shape(const std::string& name) const = 0;
  virtual at::ScalarType dtype(const std::string& name) const = 0;
  virtual const std::map<std::string, std::string>& metadata() const = 0;
  // A CPU tensor; with copy=false it aliases the mapping (kept alive by the tensor's deleter).
  virtual at::Tensor load(const std::string& name, bool copy = false) const = 0;
};

// All tensors of a model folder: model.safetensors, or the shards listed by
// model.safetensors.index.json. UserError for missing shards or index entries.
std::map<std::string, at::Tensor> load_safetensors_dir(const std::filesystem::path& dir);
std::map<std::string, at::Tensor> load_safetensors(const std::filesystem::path& file);

// Writes tensors (any device; moved to CPU, made contiguous) atomically, with `__metadata__`.
void save_safetensors(const std::filesystem::path& file, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes model-00001-of-0000N.safetensors shards of at most max_shard_bytes plus
// model.safetensors.index.json (or a single model.safetensors when one shard suffices).
void save_safetensors_sharded(const std::filesystem::path& dir, const std::map<std::string, at::Tensor>& tensors,
                              int64_t max_shard_bytes);

}  // namespace dpo
