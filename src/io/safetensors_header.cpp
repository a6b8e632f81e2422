#include "io/safetensors_header.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json_depth.h"

namespace dpo {

namespace {

using json = nlohmann::json;

struct DtypeInfo {
  const char* name;
  size_t size;
};
constexpr DtypeInfo kDtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                 {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

std::vector<int64_t> parse_shape(const json& shape, const std::string& where) {
  if (!shape.is_array()) throw_user_error("{}: \"shape\" must be an array of integers", where);
  std::vector<int64_t> dims;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 62))
      throw_user_error("{}: \"shape\" must hold non-negative integers, got {}", where,
                       shape.dump());
    dims.push_back(d.get<int64_t>());
  }
  return dims;
}

// Bytes that dtype x shape needs; UserError on overflow.
uint64_t expected_bytes(const SafetensorsEntry& entry, const std::string& where) {
  uint64_t bytes = safetensors_dtype_size(entry.dtype);
  for (int64_t d : entry.shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes))
      throw_user_error("{}: shape {} is too large", where, json(entry.shape).dump());
  return bytes;
}

SafetensorsEntry parse_entry(const std::string& name, const json& info, const std::string& source) {
  std::string where = fmt::format("{}: tensor '{}'", source, name);
  if (!info.is_object())
    throw_user_error("{}: expected an object with dtype, shape, data_offsets", where);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!info.contains(key)) throw_user_error("{}: missing \"{}\"", where, key);
  SafetensorsEntry entry;
  entry.name = name;
  if (!info["dtype"].is_string()) throw_user_error("{}: \"dtype\" must be a string", where);
  entry.dtype = info["dtype"].get<std::string>();
  if (safetensors_dtype_size(entry.dtype) == 0)
    throw_user_error("{}: unknown or unsupported dtype '{}' (supported: {})", where, entry.dtype,
                     safetensors_supported_dtypes());
  entry.shape = parse_shape(info["shape"], where);
  const json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw_user_error("{}: \"data_offsets\" must be [begin, end] (non-negative integers), got {}",
                     where, offsets.dump());
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.end < entry.begin)
    throw_user_error("{}: data_offsets [{}, {}] are reversed (end before begin)", where,
                     entry.begin, entry.end);
  uint64_t need = expected_bytes(entry, where);
  if (entry.end - entry.begin != need)
    throw_user_error("{}: data_offsets [{}, {}] span {} bytes but dtype {} x shape {} needs {}",
                     where, entry.begin, entry.end, entry.end - entry.begin, entry.dtype,
                     json(entry.shape).dump(), need);
  return entry;
}

std::map<std::string, std::string> parse_metadata(const json& meta, const std::string& source) {
  if (!meta.is_object())
    throw_user_error("{}: \"__metadata__\" must be an object of strings", source);
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : meta.items()) {
    if (!value.is_string())
      throw_user_error("{}: \"__metadata__\".\"{}\" must be a string", source, key);
    out[key] = value.get<std::string>();
  }
  return out;
}

// Entries sorted by offset must tile the data buffer exactly: no gap, no overlap, no excess.
void check_layout(const std::vector<SafetensorsEntry>& entries, uint64_t data_bytes,
                  const std::string& source) {
  uint64_t cursor = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const auto& e : entries) {
    if (e.end > data_bytes)
      throw_user_error(
          "{}: tensor '{}': data_offsets [{}, {}] go past the end of the file (data buffer is {} "
          "bytes; truncated file?)",
          source, e.name, e.begin, e.end, data_bytes);
    if (e.begin < cursor)
      throw_user_error("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]",
                       source, e.name, e.begin, e.end, previous->name, previous->begin,
                       previous->end);
    if (e.begin > cursor)
      throw_user_error("{}: tensor '{}': data_offsets [{}, {}] leave a gap after byte {}", source,
                       e.name, e.begin, e.end, cursor);
    cursor = e.end;
    previous = &e;
  }
  if (cursor != data_bytes)
    throw_user_error("{}: data buffer is {} bytes but the tensors cover {} (trailing bytes)",
                     source, data_bytes, cursor);
}

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  for (const auto& d : kDtypes)
    if (dtype == d.name) return d.size;
  return 0;
}

std::string safetensors_supported_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, uint64_t file_size,
                                           const std::string& source) {
  if (file_size < 8)
    throw_user_error("{}: file is {} bytes, too short for a safetensors header", source, file_size);
  uint64_t header_bytes = read_u64_le(data);
  if (header_bytes > kMaxSafetensorsHeaderBytes)
    throw_user_error("{}: header length {} exceeds the {} byte limit (corrupt file?)", source,
                     header_bytes, kMaxSafetensorsHeaderBytes);
  if (header_bytes > file_size - 8)
    throw_user_error("{}: header length {} goes past the end of the file ({} bytes)", source,
                     header_bytes, file_size);
  const char* text = reinterpret_cast<const char*>(data + 8);
  check_json_depth(std::string_view(text, header_bytes), source);
  json header = json::parse(text, text + header_bytes, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) throw_user_error("{}: header is not valid JSON", source);
  if (!header.is_object()) throw_user_error("{}: header must be a JSON object", source);

  SafetensorsHeader out;
  out.data_start = 8 + header_bytes;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__")
      out.metadata = parse_metadata(info, source);
    else
      out.entries.push_back(parse_entry(name, info, source));
  }
  std::stable_sort(out.entries.begin(), out.entries.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  check_layout(out.entries, file_size - out.data_start, source);
  return out;
}

std::string make_safetensors_header(std::vector<SafetensorsEntry>& entries,
                                    const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t cursor = 0;
  for (auto& e : entries) {
    size_t element = safetensors_dtype_size(e.dtype);
    DPO_CHECK(element > 0, "safetensors writer: unknown dtype {}", e.dtype);
    uint64_t bytes = element;
    for (int64_t d : e.shape) bytes *= static_cast<uint64_t>(d);
    e.begin = cursor;
    e.end = cursor + bytes;
    cursor = e.end;
    nlohmann::ordered_json info;
    info["dtype"] = e.dtype;
    info["shape"] = e.shape;
    info["data_offsets"] = {e.begin, e.end};
    header[e.name] = std::move(info);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

}  // namespace dpo
