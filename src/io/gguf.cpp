// GGUF header parsing and validation, bounds-checked (every read goes through Cursor).
#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "io/gguf_quants.h"
#include "util/error.h"

namespace dpo {

namespace {

constexpr uint32_t kMaxArrayDepth = 4;  // arrays of arrays nest at most this deep

// Smallest encoded size of one value of `type` (an array or string: its length prefix).
uint64_t min_value_bytes(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kArray:
      return 12;
    default:
      return 8;  // u64, i64, f64, string length
  }
}

bool known_type(uint32_t t) {
  return t <= static_cast<uint32_t>(GgufType::kFloat64);
}

// Reads little-endian fields of the file in memory; each read checks the remaining length.
struct Cursor {
  const uint8_t* data;
  uint64_t size;
  uint64_t pos;
  const std::string& source;

  uint64_t remaining() const { return size - pos; }
  [[noreturn]] void truncated(const std::string& what) const {
    throw_user_error("{}: truncated GGUF file: {} at byte {} runs past the end ({} bytes)", source,
                     what, pos, size);
  }
  void need(uint64_t n, const std::string& what) const {
    if (n > remaining()) truncated(what);
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data + pos, sizeof(T));  // GGUF is little-endian, as every supported host
    pos += sizeof(T);
    return v;
  }
  std::string string(const std::string& what) {
    uint64_t n = read<uint64_t>(what + " length");
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data + pos), n);
    pos += n;
    return s;
  }
};

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, uint32_t depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::kUint8:
      v.u = c.read<uint8_t>(key);
      break;
    case GgufType::kInt8:
      v.i = c.read<int8_t>(key);
      break;
    case GgufType::kUint16:
      v.u = c.read<uint16_t>(key);
      break;
    case GgufType::kInt16:
      v.i = c.read<int16_t>(key);
      break;
    case GgufType::kUint32:
      v.u = c.read<uint32_t>(key);
      break;
    case GgufType::kInt32:
      v.i = c.read<int32_t>(key);
      break;
    case GgufType::kUint64:
      v.u = c.read<uint64_t>(key);
      break;
    case GgufType::kInt64:
      v.i = c.read<int64_t>(key);
      break;
    case GgufType::kFloat32:
      v.f = c.read<float>(key);
      break;
    case GgufType::kFloat64:
      v.f = c.read<double>(key);
      break;
    case GgufType::kBool: {
      uint8_t b = c.read<uint8_t>(key);
      if (b > 1) throw_user_error("{}: key '{}': a bool must be 0 or 1, got {}", c.source, key, b);
      v.i = b;
      break;
    }
    case GgufType::kString:
      v.s = c.string(key);
      break;
    case GgufType::kArray: {
      if (depth >= kMaxArrayDepth)
        throw_user_error("{}: key '{}': arrays nested deeper than {}", c.source, key,
                         kMaxArrayDepth);
      uint32_t et = c.read<uint32_t>(key + " element type");
      if (!known_type(et))
        throw_user_error("{}: key '{}': unknown array element type {}", c.source, key, et);
      v.element_type = static_cast<GgufType>(et);
      uint64_t n = c.read<uint64_t>(key + " element count");
      if (n > c.remaining() / min_value_bytes(v.element_type))
        throw_user_error("{}: key '{}': array of {} elements cannot fit in the {} bytes left",
                         c.source, key, n, c.remaining());
      v.array.reserve(n);
      for (uint64_t k = 0; k < n; ++k)
        v.array.push_back(read_value(c, v.element_type, key, depth + 1));
      break;
    }
  }
  return v;
}

// The tensor's byte size, or a UserError for a bad shape or type.
uint64_t tensor_bytes(const GgufTensorInfo& t, const std::string& source) {
  const GgmlTypeInfo* info = ggml_type_info(t.type);
  if (!info) throw_user_error("{}: tensor '{}': unknown ggml type {}", source, t.name, t.type);
  uint64_t elements = 1;
  for (uint64_t d : t.dims) {
    if (d == 0 || d > (uint64_t{1} << 62) / elements)
      throw_user_error(
          "{}: tensor '{}': bad dimension {} (each must be at least 1 and the "
          "element count below 2^62)",
          source, t.name, d);
    elements *= d;
  }
  if (t.dims.empty() || t.dims[0] % info->block_size != 0)
    throw_user_error(
        "{}: tensor '{}': innermost dimension {} is not a multiple of the {} block "
        "size {}",
        source, t.name, t.dims.empty() ? 0 : t.dims[0], info->name, info->block_size);
  return elements / info->block_size * info->type_size;
}

}  // namespace

std::string gguf_type_name(GgufType type) {
  static const char* const names[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                      "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                      "UINT64", "INT64",   "FLOAT64"};
  uint32_t t = static_cast<uint32_t>(type);
  return known_type(t) ? names[t] : "type " + std::to_string(t);
}

GgufValue GgufValue::u32(uint32_t v) {
  GgufValue g;
  g.type = GgufType::kUint32;
  g.u = v;
  return g;
}
GgufValue GgufValue::i32(int32_t v) {
  GgufValue g;
  g.type = GgufType::kInt32;
  g.i = v;
  return g;
}
GgufValue GgufValue::u64(uint64_t v) {
  GgufValue g;
  g.type = GgufType::kUint64;
  g.u = v;
  return g;
}
GgufValue GgufValue::f32(float v) {
  GgufValue g;
  g.type = GgufType::kFloat32;
  g.f = v;
  return g;
}
GgufValue GgufValue::boolean(bool v) {
  GgufValue g;
  g.type = GgufType::kBool;
  g.i = v ? 1 : 0;
  return g;
}
GgufValue GgufValue::str(std::string v) {
  GgufValue g;
  g.type = GgufType::kString;
  g.s = std::move(v);
  return g;
}
GgufValue GgufValue::array_of(GgufType element_type, std::vector<GgufValue> elements) {
  GgufValue g;
  g.type = GgufType::kArray;
  g.element_type = element_type;
  g.array = std::move(elements);
  return g;
}
GgufValue GgufValue::strings(const std::vector<std::string>& v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (const auto& s : v) e.push_back(str(s));
  return array_of(GgufType::kString, std::move(e));
}
GgufValue GgufValue::f32s(const std::vector<float>& v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (float x : v) e.push_back(f32(x));
  return array_of(GgufType::kFloat32, std::move(e));
}
GgufValue GgufValue::i32s(const std::vector<int32_t>& v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (int32_t x : v) e.push_back(i32(x));
  return array_of(GgufType::kInt32, std::move(e));
}
GgufValue GgufValue::u32s(const std::vector<uint32_t>& v) {
  std::vector<GgufValue> e;
  e.reserve(v.size());
  for (uint32_t x : v) e.push_back(u32(x));
  return array_of(GgufType::kUint32, std::move(e));
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

int64_t GgufValue::as_int(const std::string& what) const {
  if (!is_integer())
    throw_user_error("{}: expected an integer, got {}", what, gguf_type_name(type));
  bool is_unsigned = type == GgufType::kUint8 || type == GgufType::kUint16 ||
                     type == GgufType::kUint32 || type == GgufType::kUint64;
  if (is_unsigned && u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw_user_error("{}: {} is out of range", what, u);
  return is_unsigned ? static_cast<int64_t>(u) : i;
}

double GgufValue::as_number(const std::string& what) const {
  if (type == GgufType::kFloat32 || type == GgufType::kFloat64) return f;
  if (is_integer()) return static_cast<double>(as_int(what));
  throw_user_error("{}: expected a number, got {}", what, gguf_type_name(type));
}

const std::string& GgufValue::as_string(const std::string& what) const {
  if (type != GgufType::kString)
    throw_user_error("{}: expected a string, got {}", what, gguf_type_name(type));
  return s;
}

bool GgufValue::as_bool(const std::string& what) const {
  if (type != GgufType::kBool)
    throw_user_error("{}: expected a bool, got {}", what, gguf_type_name(type));
  return i != 0;
}

std::vector<int64_t> GgufTensorInfo::shape() const {
  std::vector<int64_t> s(dims.rbegin(), dims.rend());
  return s;
}

uint64_t GgufTensorInfo::elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}

const GgufValue* GgufHeader::find(const std::string& key) const {
  for (const auto& [k, v] : metadata)
    if (k == key) return &v;
  return nullptr;
}

const GgufTensorInfo* GgufHeader::tensor(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

GgufHeader parse_gguf(const uint8_t* data, uint64_t size, const std::string& source) {
  Cursor c{data, size, 0, source};
  if (size < 4 || std::memcmp(data, "GGUF", 4) != 0)
    throw_user_error("{}: not a GGUF file (the first 4 bytes are not \"GGUF\")", source);
  c.pos = 4;
  GgufHeader h;
  h.version = c.read<uint32_t>("version");
  if (h.version != 2 && h.version != 3)
    throw_user_error("{}: GGUF version {} is not supported (supported: 2, 3)", source, h.version);
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("key/value count");
  // Each key/value takes at least 8 + 4 + 1 bytes, each tensor info 8 + 4 + 4 + 8.
  if (n_kv > c.remaining() / 13)
    throw_user_error("{}: {} key/values cannot fit in a {}-byte file", source, n_kv, size);
  if (n_tensors > c.remaining() / 24)
    throw_user_error("{}: {} tensors cannot fit in a {}-byte file", source, n_tensors, size);

  std::set<std::string> keys;
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.string("key " + std::to_string(k));
    if (key.empty()) throw_user_error("{}: key/value {} has an empty key", source, k);
    if (!keys.insert(key).second) throw_user_error("{}: key '{}' appears twice", source, key);
    uint32_t t = c.read<uint32_t>("type of key '" + key + "'");
    if (!known_type(t)) throw_user_error("{}: key '{}': unknown value type {}", source, key, t);
    h.metadata.emplace_back(key, read_value(c, static_cast<GgufType>(t), key, 0));
  }
  if (const GgufValue* a = h.find("general.alignment")) {
    if (a->type != GgufType::kUint32 || a->u == 0 || (a->u & (a->u - 1)) != 0)
      throw_user_error(
          "{}: key 'general.alignment': expected a UINT32 power of two, got {}", source,
          a->type == GgufType::kUint32 ? std::to_string(a->u) : gguf_type_name(a->type));
    h.alignment = a->u;
  }

  std::set<std::string> names;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = c.string("tensor " + std::to_string(k) + " name");
    if (!names.insert(t.name).second)
      throw_user_error("{}: tensor '{}' appears twice", source, t.name);
    uint32_t n_dims = c.read<uint32_t>("tensor '" + t.name + "' dimension count");
    if (n_dims == 0 || n_dims > kGgufMaxDims)
      throw_user_error("{}: tensor '{}': {} dimensions (expected 1 to {})", source, t.name, n_dims,
                       kGgufMaxDims);
    for (uint32_t d = 0; d < n_dims; ++d)
      t.dims.push_back(c.read<uint64_t>("tensor '" + t.name + "' dims"));
    t.type = c.read<uint32_t>("tensor '" + t.name + "' type");
    t.offset = c.read<uint64_t>("tensor '" + t.name + "' offset");
    t.nbytes = tensor_bytes(t, source);
    if (t.offset % h.alignment != 0)
      throw_user_error("{}: tensor '{}': offset {} is not a multiple of the alignment {}", source,
                       t.name, t.offset, h.alignment);
    h.tensors.push_back(std::move(t));
  }
  uint64_t pad = (h.alignment - c.pos % h.alignment) % h.alignment;
  h.data_start = c.pos + pad;
  if (h.data_start > size && !h.tensors.empty())
    throw_user_error(
        "{}: truncated GGUF file: the data section would start at byte {} past the "
        "end ({} bytes)",
        source, h.data_start, size);
  const uint64_t data_size = h.data_start <= size ? size - h.data_start : 0;

  // Within the data section and not overlapping one another.
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : h.tensors) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      throw_user_error(
          "{}: tensor '{}': bytes [{}, {}) of the data section run past its end ({} "
          "bytes; truncated file?)",
          source, t.name, t.offset, t.offset + t.nbytes, data_size);
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const GgufTensorInfo* prev = by_offset[k - 1];
    if (prev->offset + prev->nbytes > by_offset[k]->offset)
      throw_user_error("{}: tensors '{}' and '{}' overlap in the data section", source, prev->name,
                       by_offset[k]->name);
  }
  return h;
}

}  // namespace dpo
