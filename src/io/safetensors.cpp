// safetensors tensors: mmap-backed reading and streaming atomic writing (header logic in
// io/safetensors_header.cpp).
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "io/dtype.h"
#include "io/safetensors_header.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json_depth.h"

namespace dpo {

namespace {

// A read-only view of a whole file; copy-on-write so tensors aliasing it may be modified in
// place without touching the file.
class Mapping {
 public:
  explicit Mapping(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw_user_error("{}: cannot open ({})", path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw_user_error("{}: not a regular file", path.string());
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        throw_user_error("{}: cannot map into memory ({})", path.string(), std::strerror(err));
      }
      data_ = static_cast<uint8_t*>(p);
    }
    ::close(fd);
  }
  ~Mapping() {
    if (data_) ::munmap(data_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

class MappedSafetensorsFile : public SafetensorsFile {
 public:
  explicit MappedSafetensorsFile(const fs::path& path)
      : path_(path), mapping_(std::make_shared<Mapping>(path)) {
    header_ = parse_safetensors_header(mapping_->data(), mapping_->size(), path.string());
    for (size_t i = 0; i < header_.entries.size(); ++i) index_[header_.entries[i].name] = i;
  }

  const fs::path& path() const override { return path_; }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& e : header_.entries) out.push_back(e.name);
    return out;
  }
  bool contains(const std::string& name) const override { return index_.count(name) > 0; }
  std::vector<int64_t> shape(const std::string& name) const override { return entry(name).shape; }
  at::ScalarType dtype(const std::string& name) const override {
    return scalar_type_from_safetensors(entry(name).dtype);
  }
  const std::map<std::string, std::string>& metadata() const override { return header_.metadata; }

  at::Tensor load(const std::string& name, bool copy) const override {
    const SafetensorsEntry& e = entry(name);
    at::ScalarType type = scalar_type_from_safetensors(e.dtype);
    uint8_t* bytes = mapping_->data() + header_.data_start + e.begin;
    auto options = at::TensorOptions().dtype(type).device(at::kCPU);
    bool aligned = reinterpret_cast<uintptr_t>(bytes) % safetensors_dtype_size(e.dtype) == 0;
    if (e.end == e.begin) return at::empty(e.shape, options);
    std::shared_ptr<Mapping> keep = mapping_;
    at::Tensor view = at::from_blob(
        bytes, e.shape, [keep](void*) mutable { keep.reset(); }, options);
    return (copy || !aligned) ? view.clone() : view;
  }

 private:
  const SafetensorsEntry& entry(const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end()) throw_user_error("{}: no tensor named '{}'", path_.string(), name);
    return header_.entries[it->second];
  }

  fs::path path_;
  std::shared_ptr<Mapping> mapping_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
};

// Streams header + tensor bytes to `path` atomically (temp file, fsync, rename).
void write_safetensors_stream(const fs::path& path, const std::string& header,
                              const std::vector<at::Tensor>& ordered) {
  AtomicFile file(path);
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(header.size() >> (8 * i));
  file.write(length, 8);
  file.write(header);
  for (const auto& t : ordered) file.write(t.data_ptr(), t.nbytes());
  file.commit();
}

// The reference writer's data order: larger element size first (keeps alignment), then name.
std::vector<std::string> write_order(const std::map<std::string, at::Tensor>& tensors) {
  std::vector<std::string> names;
  for (const auto& kv : tensors) names.push_back(kv.first);
  std::stable_sort(names.begin(), names.end(), [&](const auto& a, const auto& b) {
    return tensors.at(a).element_size() > tensors.at(b).element_size();
  });
  return names;
}

std::map<std::string, at::Tensor> load_all(const SafetensorsFile& file) {
  std::map<std::string, at::Tensor> out;
  for (const auto& name : file.names()) out[name] = file.load(name);
  return out;
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const fs::path& path) {
  return std::make_shared<MappedSafetensorsFile>(path);
}

std::map<std::string, at::Tensor> load_safetensors(const fs::path& file) {
  return load_all(*SafetensorsFile::open(file));
}

std::map<std::string, at::Tensor> load_safetensors_dir(const fs::path& dir) {
  fs::path index_path = dir / "model.safetensors.index.json";
  fs::path single = dir / "model.safetensors";
  std::error_code ec;
  if (!fs::exists(index_path, ec)) {
    if (!fs::exists(single, ec))
      throw_user_error("{}: no model.safetensors or model.safetensors.index.json", dir.string());
    return load_safetensors(single);
  }
  const std::string index_text = read_file(index_path);
  check_json_depth(index_text, index_path.string());
  nlohmann::json index = nlohmann::json::parse(index_text, nullptr, false);
  if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
      !index["weight_map"].is_object())
    throw_user_error("{}: expected a JSON object with a \"weight_map\" object",
                     index_path.string());
  std::map<std::string, std::shared_ptr<SafetensorsFile>> shards;
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string())
      throw_user_error("{}: weight_map.\"{}\" must be a file name", index_path.string(), name);
    std::string shard_name = shard.get<std::string>();
    if (shard_name.find('/') != std::string::npos || shard_name == "..")
      throw_user_error("{}: weight_map.\"{}\": shard '{}' must be a file in the same folder",
                       index_path.string(), name, shard_name);
    auto& file = shards[shard_name];
    if (!file) {
      if (!fs::exists(dir / shard_name, ec))
        throw_user_error("{}: shard '{}' (listed for tensor '{}') does not exist",
                         index_path.string(), shard_name, name);
      file = SafetensorsFile::open(dir / shard_name);
    }
    if (!file->contains(name))
      throw_user_error("{}: tensor '{}' is listed in {} but not present in that shard",
                       index_path.string(), name, shard_name);
    out[name] = file->load(name);
  }
  return out;
}

void save_safetensors(const fs::path& file, const std::map<std::string, at::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsEntry> entries;
  std::vector<at::Tensor> ordered;
  for (const auto& name : write_order(tensors)) {
    at::Tensor t = tensors.at(name).detach().to(at::kCPU).contiguous();
    SafetensorsEntry e;
    e.name = name;
    e.dtype = safetensors_dtype_name(t.scalar_type());
    e.shape = t.sizes().vec();
    entries.push_back(std::move(e));
    ordered.push_back(std::move(t));
  }
  std::string header = make_safetensors_header(entries, metadata);
  write_safetensors_stream(file, header, ordered);
}

void save_safetensors_sharded(const fs::path& dir, const std::map<std::string, at::Tensor>& tensors,
                              int64_t max_shard_bytes) {
  ensure_directory(dir);
  // Greedy split in name order, as transformers' shard_checkpoint does.
  std::vector<std::map<std::string, at::Tensor>> shards(1);
  int64_t current = 0, total = 0;
  for (const auto& [name, t] : tensors) {
    int64_t bytes = static_cast<int64_t>(t.nbytes());
    if (!shards.back().empty() && current + bytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back()[name] = t;
    current += bytes;
    total += bytes;
  }
  if (shards.size() == 1) {
    save_safetensors(dir / "model.safetensors", tensors);
    return;
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total}};
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
    save_safetensors(dir / file, shards[i]);
    for (const auto& kv : shards[i]) weight_map[kv.first] = file;
  }
  index["weight_map"] = std::move(weight_map);
  write_file_atomic(dir / "model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace dpo
