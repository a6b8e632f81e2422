// `dpo merge`: folds a PEFT LoRA adapter into its base model (W <- W + s * B @ A in float32) and
// writes a normal Hugging Face model folder (sharded safetensors + index, config.json,
// generation_config.json and tokenizer files), atomically.
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "io/dtype.h"
#include "lora/lora_model.h"
#include "lora/merge.h"
#include "model/llama.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"

namespace dpo::cli {
namespace {

int run_merge(std::vector<std::string>& args) {
  CLI::App app{"Merges a LoRA adapter into its base model and writes a Hugging Face model folder."};
  std::string model_dir, adapter_dir, output_dir, dtype_text, shard_text = "2GB";
  int threads = 0;
  add_model_options(app, model_dir, adapter_dir, "PEFT LoRA adapter folder to merge",
                    /*adapter_required=*/true);
  app.add_option("--output", output_dir, "folder to write (replaced atomically if it exists)")
      ->required();
  app.add_option("--dtype", dtype_text,
                 "bf16, f16 or f32 (default: the base model's dtype from config.json)");
  app.add_option("--max-shard-size", shard_text,
                 "largest safetensors shard, e.g. 2GB, 500MB, 1GiB");
  app.add_option("--threads", threads, "CPU threads (default: all cores)");
  if (auto code = parse_args(app, args)) return *code;
  set_threads(threads);
  const int64_t max_shard_bytes = parse_size_bytes(shard_text, "--max-shard-size");
  if (!fs::exists(fs::path(model_dir) / "config.json"))
    throw_user_error("--model {}: no config.json (expected a Hugging Face model folder)",
                     model_dir);
  const at::ScalarType dtype = dtype_text.empty()
                                   ? config_dtype(fs::path(model_dir) / "config.json")
                                   : parse_dtype_option(dtype_text, "--dtype");
  if (fs::weakly_canonical(output_dir) == fs::weakly_canonical(model_dir))
    throw_user_error("--output {} is the base model folder; write the merged model elsewhere",
                     output_dir);

  LlamaModel model = LlamaModel::load(model_dir, at::kFloat, at::kCPU);  // merge in float32
  LoraModel lora = LoraModel::load(model, adapter_dir);
  const size_t modules = lora.modules().size();
  lora.merge_and_unload();
  save_hf_model(model, model_dir, output_dir, dtype, max_shard_bytes);
  log_info("merged {} LoRA modules into {} ({})", modules, output_dir, c10::toString(dtype));
  std::printf("%s\n", output_dir.c_str());
  return 0;
}

DPO_COMMAND("merge", "merge a LoRA adapter into its base model (Hugging Face folder)", run_merge);

}  // namespace
}  // namespace dpo::cli
