// GGUF writing: the layout of gguf-py's GGUFWriter (v3; each tensor's data padded to the
// alignment, the file ending with the last tensor's padding), written atomically.
#include <cstring>

#include "io/gguf.h"
#include "io/gguf_quants.h"
#include "util/error.h"
#include "util/fs.h"

namespace dpo {

namespace {

uint64_t padded(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

template <typename T>
void put(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

void put_value(std::string& out, const GgufValue& v) {
  switch (v.type) {
    case GgufType::kUint8:
      put<uint8_t>(out, static_cast<uint8_t>(v.u));
      break;
    case GgufType::kInt8:
      put<int8_t>(out, static_cast<int8_t>(v.i));
      break;
    case GgufType::kUint16:
      put<uint16_t>(out, static_cast<uint16_t>(v.u));
      break;
    case GgufType::kInt16:
      put<int16_t>(out, static_cast<int16_t>(v.i));
      break;
    case GgufType::kUint32:
      put<uint32_t>(out, static_cast<uint32_t>(v.u));
      break;
    case GgufType::kInt32:
      put<int32_t>(out, static_cast<int32_t>(v.i));
      break;
    case GgufType::kUint64:
      put<uint64_t>(out, v.u);
      break;
    case GgufType::kInt64:
      put<int64_t>(out, v.i);
      break;
    case GgufType::kFloat32:
      put<float>(out, static_cast<float>(v.f));
      break;
    case GgufType::kFloat64:
      put<double>(out, v.f);
      break;
    case GgufType::kBool:
      put<uint8_t>(out, v.i ? 1 : 0);
      break;
    case GgufType::kString:
      put_string(out, v.s);
      break;
    case GgufType::kArray:
      put<uint32_t>(out, static_cast<uint32_t>(v.element_type));
      put<uint64_t>(out, v.array.size());
      for (const auto& e : v.array) {
        DPO_CHECK(e.type == v.element_type, "GGUF array of {} holds a {}",
                  gguf_type_name(v.element_type), gguf_type_name(e.type));
        put_value(out, e);
      }
      break;
  }
}

}  // namespace

void GgufWriter::add(const std::string& key, GgufValue value) {
  for (const auto& [k, v] : metadata_) DPO_CHECK(k != key, "GGUF key '{}' added twice", key);
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& shape,
                            uint32_t ggml_type, Producer producer) {
  for (const auto& t : tensors_) DPO_CHECK(t.name != name, "GGUF tensor '{}' added twice", name);
  const GgmlTypeInfo* info = ggml_type_info(ggml_type);
  DPO_CHECK(info != nullptr, "GGUF tensor '{}': unknown type {}", name, ggml_type);
  DPO_CHECK(!shape.empty() && shape.size() <= kGgufMaxDims, "GGUF tensor '{}': {} dims", name,
            shape.size());
  GgufTensorInfo t;
  t.name = name;
  t.type = ggml_type;
  uint64_t elements = 1;
  for (auto it = shape.rbegin(); it != shape.rend(); ++it) {
    DPO_CHECK(*it > 0, "GGUF tensor '{}': dimension {}", name, *it);
    t.dims.push_back(static_cast<uint64_t>(*it));
    elements *= static_cast<uint64_t>(*it);
  }
  DPO_CHECK(t.dims[0] % info->block_size == 0, "GGUF tensor '{}': row of {} for {}", name,
            t.dims[0], info->name);
  t.nbytes = elements / info->block_size * info->type_size;
  t.offset = data_size_;
  data_size_ += padded(t.nbytes, kGgufDefaultAlignment);
  tensors_.push_back(std::move(t));
  producers_.push_back(std::move(producer));
}

void GgufWriter::take_tensors(GgufWriter&& other) {
  for (size_t k = 0; k < other.tensors_.size(); ++k) {
    GgufTensorInfo t = std::move(other.tensors_[k]);
    for (const auto& mine : tensors_)
      DPO_CHECK(mine.name != t.name, "GGUF tensor '{}' added twice", t.name);
    t.offset = data_size_;
    data_size_ += padded(t.nbytes, kGgufDefaultAlignment);
    tensors_.push_back(std::move(t));
    producers_.push_back(std::move(other.producers_[k]));
  }
  other.tensors_.clear();
  other.producers_.clear();
  other.data_size_ = 0;
}

std::string GgufWriter::header_bytes() const {
  std::string out = "GGUF";
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    put_string(out, key);
    put<uint32_t>(out, static_cast<uint32_t>(value.type));
    put_value(out, value);
  }
  for (const auto& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) put<uint64_t>(out, d);
    put<uint32_t>(out, t.type);
    put<uint64_t>(out, t.offset);
  }
  out.resize(padded(out.size(), kGgufDefaultAlignment), '\0');
  return out;
}

void GgufWriter::write(const fs::path& path) const {
  AtomicFile file(path);
  file.write(header_bytes());
  std::vector<uint8_t> bytes;
  const std::string zeros(kGgufDefaultAlignment, '\0');
  for (size_t k = 0; k < tensors_.size(); ++k) {
    bytes.clear();
    producers_[k](bytes);
    DPO_CHECK(bytes.size() == tensors_[k].nbytes,
              "GGUF tensor '{}': {} bytes produced, {} expected", tensors_[k].name, bytes.size(),
              tensors_[k].nbytes);
    file.write(bytes.data(), bytes.size());
    file.write(zeros.data(), padded(bytes.size(), kGgufDefaultAlignment) - bytes.size());
  }
  file.commit();
}

}  // namespace dpo
