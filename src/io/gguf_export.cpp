// Model and LoRA adapter -> GGUF (the converters' prepare_tensors: names, permutation, types).
// Shape legend: R lora rank, D head dim.
#include "io/gguf_export.h"

#include <algorithm>
#include <cstring>

#include "io/gguf.h"
#include "io/gguf_load.h"
#include "io/gguf_model.h"
#include "io/gguf_quants.h"
#include "io/gguf_vocab.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"

namespace dpo {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The stored type of one tensor: 1-D tensors and norms F32; q8_0 falls back to F16 for rows
// that are not a multiple of 32 (as the converter).
uint32_t stored_type(const std::string& gguf_name, const at::Tensor& t, uint32_t requested) {
  if (t.dim() <= 1 || ends_with(gguf_name, "_norm.weight")) return kGgmlF32;
  if (requested == kGgmlQ8_0 && t.size(-1) % 32 != 0) return kGgmlF16;
  return requested;
}

// float32 contiguous CPU values of `t` -> bytes of `type`.
void encode(const at::Tensor& t, uint32_t type, std::vector<uint8_t>& out) {
  at::Tensor f = t.detach().to(at::kCPU, at::kFloat).contiguous();
  const float* x = f.data_ptr<float>();
  const int64_t n = f.numel();
  switch (type) {
    case kGgmlF32:
      out.resize(static_cast<size_t>(n) * 4);
      std::memcpy(out.data(), x, out.size());
      return;
    case kGgmlF16:
    case kGgmlBF16: {
      out.resize(static_cast<size_t>(n) * 2);
      for (int64_t k = 0; k < n; ++k) {
        uint16_t h = type == kGgmlF16 ? fp32_to_fp16(x[k]) : fp32_to_bf16(x[k]);
        out[2 * k] = static_cast<uint8_t>(h & 0xFF);
        out[2 * k + 1] = static_cast<uint8_t>(h >> 8);
      }
      return;
    }
    case kGgmlQ8_0:
      out.resize(static_cast<size_t>(n / 32) * 34);
      quantize_q8_0(x, n, out.data());
      return;
    default:
      throw_internal_error("GGUF export: cannot encode {}", ggml_type_name(type));
  }
}

void add_tensor(GgufWriter& w, const std::string& name, at::Tensor t, uint32_t type) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
  w.add_tensor(name, shape, type, [t, type](std::vector<uint8_t>& out) { encode(t, type, out); });
}

std::string folder_name(const fs::path& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return is_gguf_file(p) ? p.stem().string() : p.filename().string();
}

// Q/K permutation applies to q_proj (n_head) and k_proj (n_kv_head), weights and biases.
at::Tensor maybe_permute(const std::string& hf_name, const at::Tensor& t, const ModelConfig& c,
                         const GgufArchitecture& arch) {
  if (!arch.permute_qk) return t;
  if (hf_name.find(".self_attn.q_proj.") != std::string::npos)
    return gguf_permute_qk(t, c.num_attention_heads);
  if (hf_name.find(".self_attn.k_proj.") != std::string::npos)
    return gguf_permute_qk(t, c.num_key_value_heads);
  return t;
}

}  // namespace

uint32_t parse_gguf_export_type(const std::string& text, const std::string& what) {
  if (text == "f32") return kGgmlF32;
  if (text == "f16") return kGgmlF16;
  if (text == "bf16") return kGgmlBF16;
  if (text == "q8_0") return kGgmlQ8_0;
  throw_user_error("{}: '{}' is not a GGUF export type (expected f32, f16, bf16 or q8_0)", what,
                   text);
}

at::Tensor gguf_permute_qk(const at::Tensor& w, int64_t n_head) {
  std::vector<int64_t> grouped = {n_head, 2, w.size(0) / n_head / 2};
  for (int64_t d = 1; d < w.dim(); ++d) grouped.push_back(w.size(d));
  return w.reshape(grouped).transpose(1, 2).reshape(w.sizes()).contiguous();
}

at::Tensor gguf_unpermute_qk(const at::Tensor& w, int64_t n_head) {
  std::vector<int64_t> grouped = {n_head, w.size(0) / n_head / 2, 2};
  for (int64_t d = 1; d < w.dim(); ++d) grouped.push_back(w.size(d));
  return w.reshape(grouped).transpose(1, 2).reshape(w.sizes()).contiguous();
}

void write_gguf_model(const fs::path& output, const fs::path& model_dir, const ModelConfig& config,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      uint32_t ggml_type) {
  const GgufArchitecture arch = gguf_architecture(config.model_type);
  if (config.rope.type == "llama3" && arch.name != "llama")
    throw_user_error("{}: Llama-3 RoPE scaling on a {} model has no GGUF form llama.cpp reads",
                     model_dir.string(), config.model_type);
  if (config.rope.type == "longrope")
    throw_user_error(
        "{}: LongRoPE scaling has no GGUF form for a {} model that llama.cpp reads (its "
        "per-dimension factors are phi3's rope_factors_long/short tensors)",
        model_dir.string(), config.model_type);
  if (config.rope.type == "yarn" &&
      (config.rope.mscale != 0 || config.rope.mscale_all_dim != 0 || !config.rope.truncate))
    log_warn(
        "{}: YaRN's mscale, mscale_all_dim and truncate have no GGUF key; llama.cpp will scale "
        "attention from the factor alone (as convert_hf_to_gguf.py's output)",
        model_dir.string());
  if (config.rope.type == "dynamic")
    log_warn(
        "{}: dynamic RoPE scaling has no GGUF key; llama.cpp will run the model with plain "
        "RoPE (as convert_hf_to_gguf.py's output)",
        model_dir.string());
  GgufWriter tw;  // tensors first: the size label counts them
  uint64_t params = 0;
  if (arch.name == "llama" && config.rope.type == "llama3") {
    std::vector<float> f = llama3_rope_factors(config.rope, config.head_dim);
    add_tensor(tw, "rope_freqs.weight", at::tensor(f, at::kFloat), kGgmlF32);
    params += f.size();
  }
  std::vector<std::pair<std::string, at::Tensor>> sorted = tensors;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [hf_name, t] : sorted) {
    if (ends_with(hf_name, ".rotary_emb.inv_freq")) continue;
    std::string name = gguf_tensor_name(hf_name);
    if (name.empty())
      throw_user_error(
          "{}: tensor '{}' has no GGUF name (supported: Llama-family decoder "
          "weights)",
          model_dir.string(), hf_name);
    at::Tensor data = maybe_permute(hf_name, t, config, arch);
    add_tensor(tw, name, data, stored_type(name, data, ggml_type));
    params += static_cast<uint64_t>(t.numel());
  }

  GgufWriter w;
  w.add("general.architecture", GgufValue::str(arch.name));
  w.add("general.type", GgufValue::str("model"));
  w.add("general.name", GgufValue::str(gguf_title(folder_name(model_dir))));
  w.add("general.size_label", GgufValue::str(gguf_size_label(params)));
  if (is_gguf_file(model_dir)) {  // a GGUF model re-exported: its own keys carry over
    const GgufHeader source = read_gguf_header(model_dir);
    const bool head_dim = source.find(arch.name + ".attention.key_length") != nullptr;
    add_gguf_hparams(w, arch, config, head_dim ? R"({"head_dim": 0})" : "{}",
                     gguf_file_type(ggml_type));
    w.add("general.quantization_version", GgufValue::u32(2));
    for (const auto& [key, value] : source.metadata)
      if (key.rfind("tokenizer.", 0) == 0) w.add(key, value);
  } else {
    const std::string config_json =
        fs::exists(model_dir / "config.json") ? read_file(model_dir / "config.json") : "{}";
    add_gguf_hparams(w, arch, config, config_json, gguf_file_type(ggml_type));
    w.add("general.quantization_version", GgufValue::u32(2));
    add_gguf_tokenizer(w, model_dir, config.vocab_size, arch.name);
  }
  w.take_tensors(std::move(tw));
  w.write(output);
}

void write_gguf_lora(const fs::path& output, const fs::path& adapter_dir, const ModelConfig& config,
                     const std::vector<GgufLoraModule>& modules, double alpha, uint32_t ggml_type) {
  const GgufArchitecture arch = gguf_architecture(config.model_type);
  GgufWriter w;
  w.add("general.architecture", GgufValue::str(arch.name));
  w.add("general.type", GgufValue::str("adapter"));
  w.add("adapter.type", GgufValue::str("lora"));
  w.add("general.name", GgufValue::str(gguf_title(folder_name(adapter_dir))));
  w.add("adapter.lora.alpha", GgufValue::f32(static_cast<float>(alpha)));
  w.add("general.quantization_version", GgufValue::u32(2));
  std::vector<GgufLoraModule> sorted = modules;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.module < b.module; });
  for (const auto& m : sorted) {
    const std::string hf_name = m.module + ".weight";
    std::string name = gguf_tensor_name(hf_name);
    if (name.empty() || name.rfind("token_embd", 0) == 0)
      throw_user_error(
          "{}: LoRA module '{}' cannot be exported as GGUF (supported: the attention "
          "and MLP projections and lm_head)",
          adapter_dir.string(), m.module);
    if (name == "output.weight" && config.tie_word_embeddings)
      throw_user_error(
          "{}: LoRA module lm_head: the base model ties lm_head to the embedding, "
          "which llama.cpp cannot adapt separately",
          adapter_dir.string());
    at::Tensor b = maybe_permute(hf_name, m.b, config, arch);  // (out, R): rows as the base
    add_tensor(w, name + ".lora_a", m.a, stored_type(name + ".lora_a", m.a, ggml_type));
    add_tensor(w, name + ".lora_b", b, stored_type(name + ".lora_b", b, ggml_type));
  }
  w.write(output);
}

}  // namespace dpo
