// A model as a Hugging Face folder: sharded safetensors, config, generation config, tokenizer.
#include "lora/merge.h"

#include <cctype>
#include <map>

#include <nlohmann/json.hpp>

#include "io/dtype.h"
#include "io/safetensors.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json_depth.h"
#include "util/output_guard.h"

namespace dpo {

namespace {

// Files copied from the source folder when present.
const char* const kCopiedFiles[] = {"generation_config.json",
                                    "tokenizer.json",
                                    "tokenizer_config.json",
                                    "special_tokens_map.json",
                                    "tokenizer.model",
                                    "added_tokens.json",
                                    "vocab.json",
                                    "merges.txt",
                                    "chat_template.jinja",
                                    "chat_template.json"};

std::string hf_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return "float32";
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    default:
      throw_user_error("cannot write a model in dtype {}", c10::toString(dtype));
  }
}

// config.json of the source with the dtype key(s) set to `dtype`.
std::string config_text(const fs::path& source_config, at::ScalarType dtype) {
  const std::string text = read_file(source_config);
  check_json_depth(text, source_config.string());
  nlohmann::json config = nlohmann::json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    throw_user_error("{}: expected a JSON object", source_config.string());
  bool has_new_key = config.contains("dtype");
  if (has_new_key) config["dtype"] = hf_dtype_name(dtype);
  if (!has_new_key || config.contains("torch_dtype")) config["torch_dtype"] = hf_dtype_name(dtype);
  return config.dump(2) + "\n";
}

}  // namespace

at::ScalarType config_dtype(const fs::path& config_json) {
  const std::string text = read_file(config_json);
  check_json_depth(text, config_json.string());
  nlohmann::json config = nlohmann::json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    throw_user_error("{}: expected a JSON object", config_json.string());
  for (const char* key : {"dtype", "torch_dtype"})
    if (config.contains(key) && config[key].is_string())
      return parse_dtype_option(config[key].get<std::string>(),
                                config_json.string() + ": key '" + key + "'");
  return at::kFloat;
}

int64_t parse_size_bytes(const std::string& text, const std::string& what) {
  size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  std::string unit = text.substr(digits);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::map<std::string, double> units = {
      {"", 1.0},    {"B", 1.0},      {"KB", 1e3},        {"MB", 1e6},          {"GB", 1e9},
      {"TB", 1e12}, {"KIB", 1024.0}, {"MIB", 1048576.0}, {"GIB", 1073741824.0}};
  auto it = units.find(unit);
  double value = 0;
  try {
    value = digits ? std::stod(text.substr(0, digits)) : 0;
  } catch (const std::exception&) {
    value = 0;
  }
  if (digits == 0 || it == units.end() || value <= 0)
    throw_user_error("{}: '{}' is not a size; expected e.g. 2GB, 500MB, 1GiB or a number of bytes",
                     what, text);
  return static_cast<int64_t>(value * it->second);
}

void write_hf_model(const LlamaModel& model, const fs::path& source_dir, const fs::path& dir,
                    at::ScalarType dtype, int64_t max_shard_bytes) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, tensor] : model.named_parameters())
    tensors[name] = tensor.detach().to(at::kCPU, dtype).contiguous();
  save_safetensors_sharded(dir, tensors, max_shard_bytes);
  write_file_atomic(dir / "config.json", config_text(source_dir / "config.json", dtype));
  std::error_code ec;
  for (const char* name : kCopiedFiles) {
    if (!fs::exists(source_dir / name)) continue;
    fs::copy_file(source_dir / name, dir / name, fs::copy_options::overwrite_existing, ec);
    if (ec)
      throw_user_error("{}: cannot copy to {} ({})", (source_dir / name).string(), dir.string(),
                       ec.message());
  }
}

void save_hf_model(const LlamaModel& model, const fs::path& source_dir, const fs::path& output_dir,
                   at::ScalarType dtype, int64_t max_shard_bytes) {
  StagedOutput staged(output_dir, /*marker_command=*/"");
  write_hf_model(model, source_dir, staged.path(), dtype, max_shard_bytes);
  staged.commit();
}

}  // namespace dpo
