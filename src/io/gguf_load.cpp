// GGUF model -> HF-named float32 tensors. Shape legend: D head dim.
#include "io/gguf_load.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/gguf_export.h"
#include "io/gguf_model.h"
#include "io/gguf_quants.h"
#include "util/error.h"
#include "util/fs.h"

namespace dpo {

namespace {

// The whole file mapped read-only.
class FileMap {
 public:
  explicit FileMap(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw_user_error("{}: cannot open ({})", path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw_user_error("{}: not a regular file", path.string());
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        throw_user_error("{}: cannot map into memory ({})", path.string(), std::strerror(err));
      }
      data_ = static_cast<const uint8_t*>(p);
    }
    ::close(fd);
  }
  ~FileMap() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  FileMap(const FileMap&) = delete;
  FileMap& operator=(const FileMap&) = delete;
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace

bool is_gguf_file(const fs::path& path) {
  return path.extension() == ".gguf" && fs::is_regular_file(path);
}

GgufHeader read_gguf_header(const fs::path& path) {
  FileMap map(path);
  return parse_gguf(map.data(), map.size(), path.string());
}

GgufModelFile load_gguf_model(const fs::path& path) {
  FileMap map(path);
  GgufModelFile out;
  out.header = parse_gguf(map.data(), map.size(), path.string());
  out.config = model_config_from_gguf(out.header, path.string());
  const bool permuted = gguf_architecture(out.config.model_type).permute_qk;
  for (const GgufTensorInfo& t : out.header.tensors) {
    const std::string hf = hf_tensor_name(t.name);
    if (hf.empty())
      throw_user_error("{}: tensor '{}' has no Hugging Face counterpart in a {} model",
                       path.string(), t.name, out.config.model_type);
    at::Tensor values = at::empty(t.shape(), at::kFloat);
    dequantize(t.type, map.data() + out.header.data_start + t.offset,
               static_cast<int64_t>(t.elements()), values.data_ptr<float>(),
               path.string() + ": tensor '" + t.name + "'");
    if (permuted && hf.find(".self_attn.q_proj.") != std::string::npos)
      values = gguf_unpermute_qk(values, out.config.num_attention_heads);
    if (permuted && hf.find(".self_attn.k_proj.") != std::string::npos)
      values = gguf_unpermute_qk(values, out.config.num_key_value_heads);
    out.tensors[hf] = values;
  }
  return out;
}

}  // namespace dpo
