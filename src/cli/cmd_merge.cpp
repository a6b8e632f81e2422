// `dpo merge`: folds a PEFT LoRA adapter into its base model (W <- W + s * B @ A in float32) and
// writes a normal Hugging Face model folder (sharded safetensors + index, config.json,
// generation_config.json and tokenizer files), atomically, never over what it did not write
// (util/output_guard.h).
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/placement.h"
#include "io/dtype.h"
#include "lora/lora_model.h"
#include "lora/merge.h"
#include "model/llama.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/output_guard.h"

namespace dpo::cli {
namespace {

int run_merge(std::vector<std::string>& args) {
  CLI::App app{"Merges a LoRA adapter into its base model and writes a Hugging Face model folder."};
  app.footer(
      "The output is written aside and swapped into place, so an interrupted merge leaves the old "
      "output or the new one. An existing --output is replaced only when it is empty or a previous "
      "`dpo merge` output (it holds .dpo-output.json), or with --overwrite; never the current "
      "folder, nor a folder that is, holds or lies inside the --model or --adapter folder.");
  std::string model_dir, adapter_dir, output_dir, dtype_text, shard_text = "2GB";
  int threads = 0;
  bool overwrite = false;
  add_model_options(app, model_dir, adapter_dir, "PEFT LoRA adapter folder to merge",
                    /*adapter_required=*/true);
  app.add_option("--output", output_dir,
                 "folder to write (a previous merge output there is replaced atomically)")
      ->required();
  app.add_flag("--overwrite", overwrite,
               "replace an existing --output that is not a previous merge output (deletes it)");
  app.add_option("--dtype", dtype_text,
                 "bf16, f16 or f32 (default: the base model's dtype from config.json)");
  app.add_option("--max-shard-size", shard_text,
                 "largest safetensors shard, e.g. 2GB, 500MB, 1GiB");
  app.add_option("--threads", threads, "CPU threads (0: every core)")->check(at_least(0));
  if (auto code = parse_args(app, args)) return *code;
  set_threads(threads);
  const int64_t max_shard_bytes = parse_size_bytes(shard_text, "--max-shard-size");
  ReplaceableOutput output;
  output.path = output_dir;
  output.command = "dpo merge";
  output.overwrite = overwrite;
  check_replaceable_output(
      output, {{model_dir, "base model", "--model"}, {adapter_dir, "adapter", "--adapter"}});
  if (!fs::exists(fs::path(model_dir) / "config.json"))
    throw_user_error("--model {}: no config.json (expected a Hugging Face model folder)",
                     model_dir);
  const at::ScalarType dtype = dtype_text.empty()
                                   ? config_dtype(fs::path(model_dir) / "config.json")
                                   : parse_dtype_option(dtype_text, "--dtype");

  // merged in float32, then converted to `dtype` for writing
  check_memory_for_model(model_dir, at::kFloat, at::kCPU,
                         static_cast<double>(c10::elementSize(dtype)), "merging");
  LlamaModel model = LlamaModel::load(model_dir, at::kFloat, at::kCPU);
  LoraModel lora = LoraModel::load(model, adapter_dir);
  const size_t modules = lora.modules().size();
  lora.merge_and_unload();
  const InterruptCleanup interrupt_cleanup;  // Ctrl-C: remove the unfinished output, exit 130
  StagedOutput staged(output_dir, output.command);
  write_hf_model(model, model_dir, staged.path(), dtype, max_shard_bytes);
  staged.commit();
  log_info("merged {} LoRA modules into {} ({})", modules, output_dir, c10::toString(dtype));
  std::printf("%s\n", output_dir.c_str());
  return 0;
}

DPO_COMMAND("merge", "merge a LoRA adapter into its base model (Hugging Face folder)", run_merge);

}  // namespace
}  // namespace dpo::cli
