// `dpo export gguf` and `dpo export gguf-lora`: a model (an adapter merged in, or not) or a LoRA
// adapter as a GGUF file for llama.cpp, as its convert_hf_to_gguf.py / convert_lora_to_gguf.py
// write them. The file is written atomically; an existing file is replaced only with --overwrite,
// and never one inside the model or adapter folder.
#include <cmath>
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "io/gguf_export.h"
#include "io/gguf_load.h"
#include "io/gguf_quants.h"
#include "lora/lora_model.h"
#include "lora/merge.h"
#include "model/llama.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"

namespace dpo::cli {
namespace {

bool is_inside(const fs::path& path, const fs::path& dir) {
  const fs::path p = fs::weakly_canonical(fs::absolute(path));
  const fs::path d = fs::weakly_canonical(fs::absolute(dir));
  auto pi = p.begin();
  for (auto di = d.begin(); di != d.end(); ++di, ++pi) {
    if (di->empty()) continue;  // trailing separator
    if (pi == p.end() || *pi != *di) return false;
  }
  return true;
}

// The output rules shared by both commands: a .gguf file path, not an existing folder, not inside
// an input folder, and an existing file only with --overwrite.
void check_output(const std::string& output,
                  const std::vector<std::pair<std::string, std::string>>& inputs, bool overwrite) {
  const fs::path out(output);
  if (out.extension() != ".gguf")
    throw_user_error("--output {}: expected a file name ending in .gguf", output);
  if (fs::is_directory(out))
    throw_user_error("--output {} is a folder; give the path of the .gguf file to write", output);
  for (const auto& [option, dir] : inputs)
    if (!dir.empty() && is_inside(out, dir))
      throw_user_error("--output {} is inside the {} folder {}; write the GGUF file elsewhere",
                       output, option, dir);
  if (fs::exists(out) && !overwrite)
    throw_user_error("--output {} exists; pass --overwrite to replace it", output);
}

void require_model_dir(const std::string& model_dir) {
  if (is_gguf_file(model_dir)) return;
  if (!fs::exists(fs::path(model_dir) / "config.json"))
    throw_user_error("--model {}: no config.json (expected a Hugging Face model folder)",
                     model_dir);
}

// The model's own dtype (config.json), as `dpo merge` keeps it; f16 for a GGUF model.
uint32_t default_type(const fs::path& model) {
  if (is_gguf_file(model)) return kGgmlF16;
  switch (config_dtype(model / "config.json")) {
    case at::kBFloat16:
      return kGgmlBF16;
    case at::kHalf:
      return kGgmlF16;
    default:
      return kGgmlF32;
  }
}

int run_export_gguf(std::vector<std::string>& args) {
  CLI::App app{
      "Writes a model (with a LoRA adapter merged in when --adapter is given) as a GGUF file for "
      "llama.cpp, as its convert_hf_to_gguf.py does."};
  std::string model_dir, adapter_dir, output, type_text;
  bool overwrite = false;
  int64_t threads = 0;
  add_model_options(app, model_dir, adapter_dir, "PEFT LoRA adapter folder to merge first",
                    /*adapter_required=*/false,
                    "base model folder (Hugging Face layout), GGUF file, or Hub id ORG/NAME");
  app.add_option("--output", output, "the .gguf file to write")->required();
  app.add_option(
      "--type", type_text,
      "tensor type: f32, f16, bf16 or q8_0 (default: the model's dtype from config.json; 1-D "
      "tensors and norms stay f32)");
  app.add_flag("--overwrite", overwrite, "replace --output if it exists");
  add_threads_option(app, threads);
  if (auto code = parse_args(app, args)) return *code;
  set_threads(threads);
  require_model_dir(model_dir);
  const uint32_t type =
      type_text.empty() ? default_type(model_dir) : parse_gguf_export_type(type_text, "--type");
  check_output(output, {{"--model", model_dir}, {"--adapter", adapter_dir}}, overwrite);

  LlamaModel model = LlamaModel::load(model_dir, at::kFloat, at::kCPU);  // merge in float32
  if (!adapter_dir.empty()) {
    LoraModel lora = LoraModel::load(model, adapter_dir);
    log_info("merging {} LoRA modules from {}", lora.modules().size(), adapter_dir);
    lora.merge_and_unload();
  }
  write_gguf_model(output, model_dir, model.config(), model.named_parameters(), type);
  log_info("wrote {} ({})", output, ggml_type_name(type));
  std::printf("%s\n", output.c_str());
  return 0;
}

int run_export_gguf_lora(std::vector<std::string>& args) {
  CLI::App app{
      "Writes a PEFT LoRA adapter as a GGUF adapter for llama.cpp (llama-cli --lora), as its "
      "convert_lora_to_gguf.py does."};
  std::string model_dir, adapter_dir, output, type_text = "f32";
  bool overwrite = false;
  add_model_options(app, model_dir, adapter_dir, "PEFT LoRA adapter folder",
                    /*adapter_required=*/true,
                    "the adapter's base model folder, GGUF file, or Hub id ORG/NAME");
  app.add_option("--output", output, "the .gguf file to write")->required();
  app.add_option("--type", type_text, "tensor type: f32 (default), f16, bf16 or q8_0");
  app.add_flag("--overwrite", overwrite, "replace --output if it exists");
  if (auto code = parse_args(app, args)) return *code;
  const uint32_t type = parse_gguf_export_type(type_text, "--type");
  require_model_dir(model_dir);
  check_output(output, {{"--model", model_dir}, {"--adapter", adapter_dir}}, overwrite);

  LlamaModel model = LlamaModel::load(model_dir, at::kFloat, at::kCPU);
  LoraModel lora = LoraModel::load(model, adapter_dir);
  // llama.cpp scales every adapter by alpha / rank(lora_a). PEFT's scaling s (alpha/r, rslora's
  // alpha/sqrt(r), rank and alpha patterns) is kept exactly by folding s * r / alpha into lora_b
  // where it differs (never for a plain adapter, so the file equals the converter's).
  const double alpha = lora.config().lora_alpha;
  std::vector<GgufLoraModule> modules;
  for (const auto& m : lora.modules()) {
    at::Tensor b = m.adapter->lora_B();
    const double wanted = m.adapter->scaling() * static_cast<double>(m.adapter->rank());
    if (std::fabs(wanted - alpha) > 1e-12 * std::fabs(alpha)) b = b * (wanted / alpha);
    modules.push_back({m.name, m.adapter->lora_A(), b});
  }
  write_gguf_lora(output, adapter_dir, model.config(), modules, alpha, type);
  log_info("wrote {} ({} LoRA modules, {})", output, modules.size(), ggml_type_name(type));
  std::printf("%s\n", output.c_str());
  return 0;
}

DPO_COMMAND("export gguf", "write a (merged) model as a GGUF file for llama.cpp", run_export_gguf);
DPO_COMMAND("export gguf-lora", "write a LoRA adapter as a GGUF adapter for llama.cpp",
            run_export_gguf_lora);

}  // namespace
}  // namespace dpo::cli
