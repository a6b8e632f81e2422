// GGUF files (llama.cpp's model container), plain C++ (no libtorch): the header (magic, version,
// metadata key/values of every GGUF type, tensor infos) parsed and validated against the file
// length, and a writer that lays a file out as gguf-py's GGUFWriter does (v3, little-endian,
// tensor data aligned to general.alignment, 32 by default).
//
// File layout: "GGUF", u32 version, u64 tensor count, u64 key/value count, the key/values, the
// tensor infos (name, u32 n_dims, u64 dims[n_dims] in ggml order (innermost first), u32 ggml type,
// u64 offset into the data section), zero padding to the alignment, then the data section.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace dpo {

enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "UINT32", "STRING", ... (gguf-py's names); "type N" for an unknown one.
std::string gguf_type_name(GgufType type);

// One metadata value. Integers keep their exact value in `i` (signed types, bool) or `u`
// (unsigned types); floats in `f`; arrays hold their elements (all of `element_type`).
struct GgufValue {
  GgufType type = GgufType::kUint32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string s;
  GgufType element_type = GgufType::kUint32;  // arrays only
  std::vector<GgufValue> array;

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue array_of(GgufType element_type, std::vector<GgufValue> elements);
  static GgufValue strings(const std::vector<std::string>& v);
  static GgufValue f32s(const std::vector<float>& v);
  static GgufValue i32s(const std::vector<int32_t>& v);
  static GgufValue u32s(const std::vector<uint32_t>& v);

  bool is_integer() const;  // any integer type (not bool)
  // The value as an integer when it is one (UserError naming `what` otherwise or out of range).
  int64_t as_int(const std::string& what) const;
  double as_number(const std::string& what) const;  // integer or float
  const std::string& as_string(const std::string& what) const;
  bool as_bool(const std::string& what) const;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the innermost (contiguous) one
  uint32_t type = 0;           // ggml type (io/gguf_quants.h)
  uint64_t offset = 0;         // into the data section
  uint64_t nbytes = 0;         // computed from dims and type
  // Torch order (outermost first): the reverse of dims.
  std::vector<int64_t> shape() const;
  uint64_t elements() const;
};

struct GgufHeader {
  uint32_t version = 3;
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::vector<GgufTensorInfo> tensors;                      // file order
  uint64_t alignment = 32;
  uint64_t data_start = 0;  // where the data section begins in the file

  const GgufValue* find(const std::string& key) const;
  const GgufTensorInfo* tensor(const std::string& name) const;
};

constexpr uint64_t kGgufDefaultAlignment = 32;
constexpr uint32_t kGgufMaxDims = 4;  // GGML_MAX_DIMS

// Parses and validates a whole file held in memory. Every count, length and offset is checked
// against the file size before it is used; a malformed file is a UserError naming `source` and
// the key or tensor, never an out-of-bounds read or a huge allocation.
GgufHeader parse_gguf(const uint8_t* data, uint64_t size, const std::string& source);

// A GGUF file being assembled; write() lays it out and writes it atomically (util/fs AtomicFile).
// Tensor bytes are produced one tensor at a time while writing, so a whole model never has to be
// held twice in memory.
class GgufWriter {
 public:
  using Producer = std::function<void(std::vector<uint8_t>& out)>;  // fills exactly nbytes

  void add(const std::string& key, GgufValue value);  // InternalError on a duplicate key
  // dims in torch order (outermost first), as gguf-py's add_tensor takes a numpy shape.
  void add_tensor(const std::string& name, const std::vector<int64_t>& shape, uint32_t ggml_type,
                  Producer producer);
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  // Appends the tensors (and their producers) of `other`, which must not have been written.
  void take_tensors(GgufWriter&& other);
  // The header bytes (up to and including the padding before the data section).
  std::string header_bytes() const;
  void write(const std::filesystem::path& path) const;

 private:
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::vector<Producer> producers_;
  uint64_t data_size_ = 0;
};

}  // namespace dpo
