// Writing a model (e.g. after LoraModel::merge_and_unload) as a normal Hugging Face model folder.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <string>

#include "model/llama.h"

namespace dpo {

// Writes `model`'s parameters converted to `dtype` into the existing folder `dir`: sharded
// safetensors (+ model.safetensors.index.json) of at most `max_shard_bytes`, config.json from
// `source_dir` with its dtype key set to `dtype`, and generation_config.json and tokenizer files
// copied from `source_dir` when present.
void write_hf_model(const LlamaModel& model, const std::filesystem::path& source_dir,
                    const std::filesystem::path& dir, at::ScalarType dtype,
                    int64_t max_shard_bytes);

// write_hf_model into a temporary folder that then replaces `output_dir` atomically
// (util/output_guard.h StagedOutput; no marker file). Callers check the target first.
void save_hf_model(const LlamaModel& model, const std::filesystem::path& source_dir,
                   const std::filesystem::path& output_dir, at::ScalarType dtype,
                   int64_t max_shard_bytes);

// transformers' size strings: "2GB" (10^9), "500MB", "10KB", "1GiB" (2^30), "300MiB", or bytes.
// UserError naming `what` otherwise.
int64_t parse_size_bytes(const std::string& text, const std::string& what);

// The dtype a config.json records ("torch_dtype" or transformers 5's "dtype"); float32 when absent.
at::ScalarType config_dtype(const std::filesystem::path& config_json);

}  // namespace dpo
