// `dpo eval`: the preference loss and TRL's eval metrics of a model (+ LoRA adapter) on a dataset:
// the DPO family (the reference being the same model with the adapter switched off), or with
// --method cpo / orpo the reference-free objectives of dpo cpo and dpo orpo, or --method kto
// (unpaired rows) that of dpo kto. --per-example writes
// one JSON object per pair. Rows in any preference format of the data pipeline; pretokenized rows
// (prompt_ids, chosen_ids, rejected_ids) are used exactly as given.
#include <ATen/Context.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/placement.h"
#include "data/model_data.h"
#include "data/model_tokenizer.h"
#include "data/pipeline.h"
#include "io/dtype.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "train/batcher.h"
#include "train/evaluate.h"
#include "train/kto_data.h"
#include "train/kto_losses.h"
#include "train/losses.h"
#include "train/objective.h"
#include "train/ref_free_losses.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/output_guard.h"
#include "util/strings.h"

namespace dpo::cli {
namespace {

struct EvalArgs {
  std::string model_dir, adapter_dir, per_example;
  std::vector<std::string> data;
  std::vector<std::string> loss_types;      // empty: sigmoid (dpo, cpo) or kto
  std::string f_divergence = "reverse_kl";  // parsed into loss.f_divergence_type
  LossConfig loss;
  std::string method = "dpo";  // dpo | cpo | orpo | kto
  RefFreeLossConfig ref_free;  // cpo, orpo
  KtoLossConfig kto;           // kto
  int64_t kl_chunk_size = 0;   // kto: 0 = --batch-size
  bool json = false;
  bool overwrite = false;  // --per-example may replace any existing file
  std::string format = "auto", chat_template = "auto";
  int64_t batch_size = 8, max_length = 0, max_prompt_length = 0, max_completion_length = 0;
  int64_t max_samples = 0;
  PlacementOptions placement;
};

// The model's tokenizer (its folder's tokenizer.json, or a GGUF file's metadata), when it has
// one (text rows and the pad token need it).
std::optional<Tokenizer> model_tokenizer(const EvalArgs& a) {
  if (!has_model_tokenizer(fs::path(a.model_dir))) return std::nullopt;
  return load_model_tokenizer(fs::path(a.model_dir));
}

// Tokenizer-backed text encoding when the model folder has a tokenizer; without one only
// pretokenized rows can be read.
std::vector<PreferenceExample> load_examples(const EvalArgs& a, const LlamaModel& model,
                                             const Tokenizer* tokenizer) {
  DataOptions options;
  options.dataset = a.data;
  options.dataset_format = a.format;
  options.chat_template = a.chat_template;
  options.max_length = a.max_length;
  options.max_prompt_length = a.max_prompt_length;
  options.max_completion_length = a.max_completion_length;
  options.threads = 2;
  DataReport report;
  std::vector<PreferenceExample> examples;
  if (tokenizer) {
    check_tokenizer_fits_model(*tokenizer, a.model_dir, model.config().vocab_size, a.model_dir);
    ModelText text(*tokenizer, a.chat_template);
    text.encoder.vocab_size = static_cast<size_t>(model.config().vocab_size);
    examples =
        read_preference_examples(a.data, options, text.encoder, text.renderer_or_null(), report);
  } else {
    TextEncoder ids_only;
    ids_only.vocab_size = static_cast<size_t>(model.config().vocab_size);
    ids_only.encode = [&](const std::string&, bool) -> TokenIds {
      throw_user_error(
          "{}: text rows need the model's tokenizer.json (not found in {}); give pretokenized rows "
          "(prompt_ids, chosen_ids, rejected_ids) instead",
          join(a.data, ", "), a.model_dir);
    };
    examples = read_preference_examples(a.data, options, ids_only, nullptr, report);
  }
  log_info("{}", report.summary());
  if (a.max_samples > 0 && static_cast<int64_t>(examples.size()) > a.max_samples)
    examples.resize(static_cast<size_t>(a.max_samples));
  if (examples.empty()) throw_user_error("{}: no preference pairs to evaluate", join(a.data, ", "));
  return examples;
}

// --method kto: unpaired rows (or pairs, unpaired) laid out with their KL sequences as the
// trainer lays them out (train/kto_data.h).
KtoExamples load_kto_examples(const EvalArgs& a, const LlamaModel& model,
                              const Tokenizer* tokenizer) {
  if (!tokenizer)
    throw_user_error("--method kto: text rows need the model's tokenizer.json (not found in {})",
                     a.model_dir);
  check_tokenizer_fits_model(*tokenizer, a.model_dir, model.config().vocab_size, a.model_dir);
  DataOptions options;
  options.dataset = a.data;
  options.dataset_format = a.format;
  options.chat_template = a.chat_template;
  options.max_length = 0;  // KL completions from whole completions, cut afterwards
  options.threads = 2;
  ModelText text(*tokenizer, a.chat_template);
  text.encoder.vocab_size = static_cast<size_t>(model.config().vocab_size);
  UnpairedData data = load_unpaired_data(options, text.encoder, text.renderer_or_null());
  KtoDataOptions kto;
  kto.max_length = a.max_length;
  kto.kl_chunk_size = a.kl_chunk_size > 0 ? a.kl_chunk_size : a.batch_size;
  kto.with_kl = a.kto.uses_kl();
  KtoExamples examples = prepare_kto_examples(std::move(data.train), kto);
  if (a.max_samples > 0 && static_cast<int64_t>(examples.pairs.size()) > a.max_samples) {
    examples.pairs.resize(static_cast<size_t>(a.max_samples));
    examples.desirable.resize(static_cast<size_t>(a.max_samples));
  }
  if (examples.pairs.empty()) throw_user_error("{}: no examples to evaluate", join(a.data, ", "));
  return examples;
}

nlohmann::json kto_example_row(const PreferenceExample& example, bool desirable,
                               const BatchResult& result, int64_t i) {
  auto at = [i](const at::Tensor& t) { return t[i].item<double>(); };
  return {{"index", example.index},
          {"label", desirable},
          {"policy_logps", at(result.logps.chosen_logps)},
          {"reference_logps", at(result.logps.ref_chosen_logps)},
          {"reward", at(result.pairs.chosen_rewards)},
          {"loss", at(result.pairs.per_pair_loss)}};
}

// A previous --per-example output (or an empty file): its first line a JSON object with the
// "index" and "loss" every row has.
bool is_per_example_output(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  if (!std::getline(in, line)) return true;
  const nlohmann::json row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  return row.is_object() && row.contains("index") && row.contains("loss");
}

// --per-example must not overwrite what eval reads (inside the model folder, or an input file),
// nor an existing file that is not a previous --per-example output (without --overwrite).
void check_per_example_output(const EvalArgs& a) {
  std::vector<ProtectedPath> inputs = {{a.model_dir, "model", "--model"}};
  if (!a.adapter_dir.empty())
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors"})
      inputs.push_back({fs::path(a.adapter_dir) / name, "adapter", "--adapter", false});
  for (const std::string& data : a.data) inputs.push_back({data, "data", "--data", false});
  check_output_apart(a.per_example, "--per-example", inputs, "write it elsewhere");
  const fs::path out(a.per_example);
  if (fs::is_directory(out))
    throw_user_error("--per-example {} is a folder; give the path of the .jsonl file to write",
                     a.per_example);
  if (fs::exists(out) && !a.overwrite && !is_per_example_output(out))
    throw_user_error(
        "--per-example {} exists and is not a previous --per-example output; pass --overwrite "
        "to replace it",
        a.per_example);
}
nlohmann::json per_example_row(const PreferenceExample& example, const LossOutput& loss,
                               const PreferenceLogps& l, int64_t i) {
  auto at = [i](const at::Tensor& t) { return t[i].item<double>(); };
  nlohmann::json row = {{"index", example.index},
                        {"policy_chosen_logps", at(l.chosen_logps)},
                        {"policy_rejected_logps", at(l.rejected_logps)}};
  if (l.ref_chosen_logps.defined()) {  // (cpo and orpo have no reference)
    row["reference_chosen_logps"] = at(l.ref_chosen_logps);
    row["reference_rejected_logps"] = at(l.ref_rejected_logps);
  }
  row["chosen_reward"] = at(loss.chosen_rewards);
  row["rejected_reward"] = at(loss.rejected_rewards);
  row["loss"] = at(loss.per_pair_loss);
  return row;
}

// --loss-type as given, else the method's default.
std::vector<std::string> loss_types_or(const EvalArgs& a, const std::string& fallback) {
  return a.loss_types.empty() ? std::vector<std::string>{fallback} : a.loss_types;
}

// The objective --method names: the DPO family against the model with the adapter off, or a
// reference-free one (cpo: CPO / SimPO / AlphaPO; orpo).
Objective eval_objective(const EvalArgs& a, const LlamaModel& model, const LoraModel* lora) {
  if (a.method == "dpo") {
    LossConfig config = a.loss;
    config.loss_types = parse_loss_types(loss_types_or(a, "sigmoid"));
    config.f_divergence_type = parse_f_divergence(a.f_divergence);
    config.validate();
    if (!lora) log_warn("no --adapter: the policy is the reference model itself (rewards are 0)");
    return Objective::preference(model, config, Reference::adapters_off(lora));
  }
  if (a.method == "kto") throw_internal_error("eval_objective: kto is built by run_eval");
  RefFreeLossConfig config = a.ref_free;
  config.method = a.method == "orpo" ? RefFreeMethod::kOrpo : RefFreeMethod::kCpo;
  if (config.method == RefFreeMethod::kCpo)
    config.cpo_loss = parse_cpo_loss_type(loss_types_or(a, "sigmoid"), "--loss-type");
  config.beta = a.loss.beta;
  config.label_smoothing = a.loss.label_smoothing;
  return Objective::reference_free(model, config);
}

void print_metrics(const std::map<std::string, double>& metrics, bool json) {
  if (json) {
    std::printf("%s\n", nlohmann::json(metrics).dump().c_str());
    return;
  }
  size_t width = 0;
  for (const auto& [name, value] : metrics) width = std::max(width, name.size());
  std::printf("***** eval metrics *****\n");
  for (const auto& [name, value] : metrics)
    std::printf("  %-*s = %.6g\n", static_cast<int>(width), name.c_str(), value);
}

int run_eval(std::vector<std::string>& args) {
  CLI::App app{
      "Evaluates the preference loss (DPO family, CPO/SimPO or ORPO) and TRL's metrics of a model "
      "(+ LoRA adapter) on preference data."};
  EvalArgs a;
  add_model_options(app, a.model_dir, a.adapter_dir,
                    "PEFT LoRA adapter folder (the policy); the reference is the model");
  app.add_option("--data", a.data,
                 "preference data file(s): jsonl/json(.gz), any preference format, or a Hub "
                 "dataset id ORG/NAME[:SPLIT] in the local Hugging Face cache")
      ->required();
  app.add_option("--format", a.format,
                 "dataset format: auto, standard, conversational, implicit, hh, pretokenized");
  app.add_option("--chat-template", a.chat_template,
                 "auto, llama-2, zephyr, chatml, llama-3 or a template file");
  app.add_option("--method", a.method,
                 "the objective: dpo (the DPO family against the reference), cpo (CPO; SimPO "
                 "with --loss-type simpo), orpo or kto (unpaired rows, or pairs unpaired), as "
                 "dpo train, dpo cpo, dpo orpo and dpo kto")
      ->check(CLI::IsMember({"dpo", "cpo", "orpo", "kto"}));
  app.add_option("--beta", a.loss.beta, "beta")->check(greater_than(0));
  app.add_option("--cpo-alpha", a.ref_free.cpo_alpha, "cpo: weight of the chosen NLL term")
      ->check(at_least(0));
  app.add_option("--simpo-gamma", a.ref_free.simpo_gamma, "cpo --loss-type simpo: target margin")
      ->check(at_least(0));
  app.add_option("--alpha", a.ref_free.alpha, "cpo: AlphaPO reward shape (0: off)")
      ->check(finite_number());
  app.add_option("--desirable-weight", a.kto.desirable_weight, "kto: weight of desirable rows")
      ->check(at_least(0));
  app.add_option("--undesirable-weight", a.kto.undesirable_weight,
                 "kto: weight of undesirable rows")
      ->check(at_least(0));
  app.add_option("--kl-chunk-size", a.kl_chunk_size,
                 "kto: rows whose completions rotate into KL completions (the run's "
                 "per_device_train_batch_size reproduces its eval numbers; 0: --batch-size)")
      ->check(at_least(0));
  app.add_option("--loss-type", a.loss_types, "loss type(s), TRL names (sigmoid, ipo, hinge, ...)");
  app.add_option("--loss-weights", a.loss.loss_weights, "one weight per --loss-type")
      ->check(finite_number());
  app.add_option("--label-smoothing", a.loss.label_smoothing,
                 "label smoothing (robust, exo_pair, aot, aot_unpaired)")
      ->check(in_closed(0, 1));
  app.add_option("--ld-alpha", a.loss.ld_alpha, "LD-DPO alpha")->check(in_closed(0, 1));
  app.add_option("--rpo-alpha", a.loss.rpo_alpha, "RPO: weight of the chosen NLL added to the loss")
      ->check(at_least(0));
  app.add_option("--discopop-tau", a.loss.discopop_tau, "DiscoPOP tau")->check(greater_than(0));
  app.add_option("--f-divergence-type", a.f_divergence,
                 "f-DPO divergence: reverse_kl, forward_kl, js_divergence or alpha_divergence");
  app.add_option("--f-alpha-divergence-coef", a.loss.f_alpha_divergence_coef,
                 "alpha of alpha_divergence")
      ->check(finite_number());
  app.add_flag("--reference-free", a.loss.reference_free, "ignore the reference in the loss");
  app.add_flag("--use-weighting", a.loss.use_weighting, "WPO weighting");
  app.add_option("--batch-size", a.batch_size, "pairs per batch")->check(at_least(1));
  app.add_option("--max-length", a.max_length,
                 "truncate prompt+completion to this many tokens (0 = never)")
      ->check(at_least(0));
  app.add_option("--max-prompt-length", a.max_prompt_length, "truncate prompts (0 = never)")
      ->check(at_least(0));
  app.add_option("--max-completion-length", a.max_completion_length,
                 "truncate completions (0 = never)")
      ->check(at_least(0));
  app.add_option("--max-samples", a.max_samples, "evaluate the first N pairs only (0 = all)")
      ->check(at_least(0));
  app.add_option("--per-example", a.per_example,
                 "write one JSON object per pair to this .jsonl file (a previous one there is "
                 "replaced)");
  app.add_flag("--overwrite", a.overwrite, "--per-example may replace any existing file");
  app.add_flag("--json", a.json, "print the metrics as one JSON object");
  add_placement_options(app, a.placement);
  if (auto code = parse_args(app, args)) return *code;
  a.data = resolve_dataset_args(a.data, "--data");
  if (!a.per_example.empty()) check_per_example_output(a);
  const Placement placement = resolve_placement(a.placement);
  const at::Device device = placement.device;

  LlamaModel model = LlamaModel::load(a.model_dir, placement.dtype, device);
  const std::optional<Tokenizer> tokenizer = model_tokenizer(a);
  const Tokenizer* tokenizer_or_null = tokenizer ? &*tokenizer : nullptr;
  const bool kto = a.method == "kto";
  if (kto) {
    a.kto.loss_type = parse_kto_loss_type(loss_types_or(a, "kto"), "--loss-type");
    a.kto.beta = a.loss.beta;
    a.kto.validate();
  }
  KtoExamples kto_examples;
  std::vector<PreferenceExample> examples;
  if (kto) {
    kto_examples = load_kto_examples(a, model, tokenizer_or_null);
    examples = kto_examples.pairs;
  } else {
    examples = load_examples(a, model, tokenizer_or_null);
  }
  std::optional<LoraModel> lora;
  if (!a.adapter_dir.empty()) {
    lora.emplace(LoraModel::load(model, a.adapter_dir));
    lora->set_dropout_active(false);
  }

  // The trainer's evaluation (dpo, kto: the reference being the model with the adapter off);
  // packed rows with prompt sharing, as training's padding_free and prompt_sharing defaults (the
  // padded layout's numbers up to float32 reordering, less compute).
  Objective objective =
      kto ? Objective::kto(model, a.kto, Reference::adapters_off(lora ? &*lora : nullptr),
                           {{}, kto_examples.desirable})
          : eval_objective(a, model, lora ? &*lora : nullptr);
  const Batcher batcher(model, /*padding_free=*/true, /*prompt_sharing=*/!kto,
                        pad_token_for(tokenizer_or_null, model.config()));
  std::string per_example;
  EvalBatchObserver observe;
  if (!a.per_example.empty())
    observe = [&](const MicroBatch& batch, const BatchResult& result) {
      for (size_t i = 0; i < batch.rows.positions.size(); ++i) {
        const size_t position = static_cast<size_t>(batch.rows.positions[i]);
        const int64_t row = static_cast<int64_t>(i);
        per_example += (kto ? kto_example_row(examples[position],
                                              kto_examples.desirable[position] != 0, result, row)
                            : per_example_row(examples[position], result.pairs, result.logps, row))
                           .dump() +
                       "\n";
      }
    };
  EvalExamples eval_examples;
  eval_examples.preference = &examples;
  const std::map<std::string, double> metrics =
      evaluate(objective, batcher, eval_examples, a.batch_size, observe);
  if (!a.per_example.empty()) write_file_atomic(a.per_example, per_example);
  print_metrics(metrics, a.json);
  return 0;
}

DPO_COMMAND("eval", "DPO loss and TRL's eval metrics of a model (+ adapter) on preference data",
            run_eval);

}  // namespace
}  // namespace dpo::cli
