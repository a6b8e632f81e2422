// `dpo eval`: the preference loss and TRL's eval metrics of a model (+ LoRA adapter) on a dataset,
// the reference being the same model with the adapter switched off. --per-example writes one JSON
// object per pair. Rows in any preference format of the data pipeline; pretokenized rows
// (prompt_ids, chosen_ids, rejected_ids) are used exactly as given.
#include <ATen/Context.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/placement.h"
#include "data/batch.h"
#include "data/model_data.h"
#include "io/dtype.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "train/losses.h"
#include "train/metrics.h"
#include "train/preference.h"
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
  std::vector<std::string> loss_types = {"sigmoid"};  // parsed into loss.loss_types
  LossConfig loss;
  bool json = false;
  std::string format = "auto", chat_template = "auto";
  int64_t batch_size = 8, max_length = 0, max_prompt_length = 0, max_completion_length = 0;
  int64_t max_samples = 0;
  PlacementOptions placement;
};

// Tokenizer-backed text encoding when the model folder has a tokenizer; without one only
// pretokenized rows can be read.
std::vector<PreferenceExample> load_examples(const EvalArgs& a, const LlamaModel& model) {
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
  fs::path model_dir(a.model_dir);
  if (fs::exists(model_dir / "tokenizer.json")) {
    Tokenizer tokenizer = Tokenizer::from_dir(model_dir);
    check_tokenizer_fits_model(tokenizer, a.model_dir, model.config().vocab_size, a.model_dir);
    ModelText text(tokenizer, a.chat_template);
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

// --per-example must not overwrite what eval reads: inside the model folder, or an input file.
void check_per_example_output(const EvalArgs& a) {
  std::vector<ProtectedPath> inputs = {{a.model_dir, "model", "--model"}};
  if (!a.adapter_dir.empty())
    for (const char* name : {"adapter_config.json", "adapter_model.safetensors"})
      inputs.push_back({fs::path(a.adapter_dir) / name, "adapter", "--adapter", false});
  for (const std::string& data : a.data) inputs.push_back({data, "data", "--data", false});
  check_output_apart(a.per_example, "--per-example", inputs, "write it elsewhere");
}

int64_t pad_token_id(const LlamaModel& model) {
  if (model.config().pad_token_id) return *model.config().pad_token_id;
  if (!model.config().eos_token_ids.empty()) return model.config().eos_token_ids.front();
  return 0;
}

nlohmann::json per_example_row(const PreferenceExample& example, const LossOutput& loss,
                               const PreferenceLogps& l, int64_t i) {
  auto at = [i](const at::Tensor& t) { return t[i].item<double>(); };
  return {{"index", example.index},
          {"policy_chosen_logps", at(l.chosen_logps)},
          {"policy_rejected_logps", at(l.rejected_logps)},
          {"reference_chosen_logps", at(l.ref_chosen_logps)},
          {"reference_rejected_logps", at(l.ref_rejected_logps)},
          {"chosen_reward", at(loss.chosen_rewards)},
          {"rejected_reward", at(loss.rejected_rewards)},
          {"loss", at(loss.per_pair_loss)}};
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
      "Evaluates the DPO loss and TRL's metrics of a model (+ LoRA adapter) on preference data."};
  EvalArgs a;
  app.add_option("--model", a.model_dir,
                 "model folder (config.json, *.safetensors, tokenizer.json)")
      ->required();
  app.add_option("--adapter", a.adapter_dir,
                 "PEFT LoRA adapter folder (the policy); the reference is the model");
  app.add_option("--data", a.data,
                 "preference data file(s): jsonl/json(.gz), any preference format")
      ->required();
  app.add_option("--format", a.format,
                 "dataset format: auto, standard, conversational, implicit, hh, pretokenized");
  app.add_option("--chat-template", a.chat_template,
                 "auto, llama-2, zephyr, chatml, llama-3 or a template file");
  app.add_option("--beta", a.loss.beta, "DPO beta")->check(greater_than(0));
  app.add_option("--loss-type", a.loss_types, "loss type(s), TRL names (sigmoid, ipo, hinge, ...)");
  app.add_option("--loss-weights", a.loss.loss_weights, "one weight per --loss-type")
      ->check(finite_number());
  app.add_option("--label-smoothing", a.loss.label_smoothing,
                 "label smoothing (cDPO, robust, exo_pair, aot)")
      ->check(in_closed(0, 1));
  app.add_option("--ld-alpha", a.loss.ld_alpha, "LD-DPO alpha")->check(in_closed(0, 1));
  app.add_option("--rpo-alpha", a.loss.rpo_alpha,
                 "RPO: weight of the chosen NLL added to the loss")
      ->check(at_least(0));
  app.add_option("--discopop-tau", a.loss.discopop_tau, "DiscoPOP tau")->check(greater_than(0));
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
                 "write one JSON object per pair to this .jsonl file");
  app.add_flag("--json", a.json, "print the metrics as one JSON object");
  add_placement_options(app, a.placement);
  if (auto code = parse_args(app, args)) return *code;
  if (!a.per_example.empty()) check_per_example_output(a);
  LossConfig config = a.loss;
  config.loss_types = parse_loss_types(a.loss_types);
  config.validate();
  const Placement placement = resolve_placement(a.placement);
  const at::Device device = placement.device;

  LlamaModel model = LlamaModel::load(a.model_dir, placement.dtype, device);
  std::vector<PreferenceExample> examples = load_examples(a, model);
  std::optional<LoraModel> lora;
  if (!a.adapter_dir.empty()) {
    lora.emplace(LoraModel::load(model, a.adapter_dir));
    lora->set_dropout_active(false);
  } else {
    log_warn("no --adapter: the policy is the reference model itself (rewards are 0)");
  }

  at::NoGradGuard no_grad;
  // Packed as training's padding_free default: the padded layout's numbers, less compute.
  const int64_t packed_row_tokens =
      padding_free_row_tokens(model.packed_rows_use_varlen_attention());
  ReferenceSource source;
  source.lora = lora ? &*lora : nullptr;
  const LogProbOptions options = logprob_options_for(config, /*token_stats=*/true);
  MetricAverager averager;
  RunningMoments bco_state;
  std::string per_example;
  double loss_sum = 0;
  int64_t batches = 0;
  auto start = std::chrono::steady_clock::now();
  for (size_t first = 0; first < examples.size(); first += static_cast<size_t>(a.batch_size)) {
    size_t last = std::min(examples.size(), first + static_cast<size_t>(a.batch_size));
    std::vector<PreferenceExample> pairs(examples.begin() + first, examples.begin() + last);
    TokenBatch batch = to_device(
        make_preference_batch(pairs, BatchLayout::kPacked, pad_token_id(model), packed_row_tokens),
        device);
    PreferenceForward forward = preference_forward(model, batch, options, source);
    LossOutput loss = preference_loss(config, forward.logps, &bco_state);
    averager.add(preference_batch_metrics(loss, forward.logps, forward.policy, batch.num_pairs));
    loss_sum += loss.loss.item<double>() *
                static_cast<double>(pairs.size());  // HF: loss repeated per sample
    ++batches;
    if (!a.per_example.empty())
      for (int64_t i = 0; i < batch.num_pairs; ++i)
        per_example +=
            per_example_row(pairs[static_cast<size_t>(i)], loss, forward.logps, i).dump() + "\n";
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::map<std::string, double> metrics = averager.mean("eval_");
  metrics["eval_loss"] = loss_sum / static_cast<double>(examples.size());
  metrics["eval_runtime"] = seconds;
  metrics["eval_samples_per_second"] =
      seconds > 0 ? static_cast<double>(examples.size()) / seconds : 0.0;
  metrics["eval_steps_per_second"] = seconds > 0 ? static_cast<double>(batches) / seconds : 0.0;
  if (!a.per_example.empty()) write_file_atomic(a.per_example, per_example);
  print_metrics(metrics, a.json);
  return 0;
}

DPO_COMMAND("eval", "DPO loss and TRL's eval metrics of a model (+ adapter) on preference data",
            run_eval);

}  // namespace
}  // namespace dpo::cli
