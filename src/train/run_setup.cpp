// The setup steps of a training run (RunSetup, run.h): device, tokenizer and chat template, data,
// model (+ LoRA or full fine-tuning), objective with its reference (frozen copy, adapters off or
// the precomputed cache), batcher, step plan.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "data/batch.h"
#include "data/model_data.h"
#include "data/model_tokenizer.h"
#include "data/tokenize.h"
#include "io/dtype.h"
#include "io/gguf_load.h"
#include "train/kto_data.h"
#include "train/preference.h"
#include "train/ref_cache.h"
#include "train/resume_check.h"
#include "train/run.h"
#include "train/run_dir.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/strings.h"
#include "util/threads.h"

namespace dpo {

int64_t RunData::train_size() const {
  return preference_ ? static_cast<int64_t>(preference_->train.size())
                     : static_cast<int64_t>(sft_ ? sft_->train.size() : 0);
}

EvalExamples RunData::eval() const {
  EvalExamples examples;
  if (preference_) examples.preference = &preference_->eval;
  if (sft_) examples.sft = &sft_->eval;
  return examples;
}

MicroBatch RunData::train_batch(const Batcher& batcher,
                                const std::vector<int64_t>& positions) const {
  BatchRows rows{Split::kTrain, positions};
  return preference_ ? batcher.preference(preference_->train, std::move(rows))
                     : batcher.sft(sft_->train, std::move(rows));
}

std::vector<int64_t> RunData::train_tokens(const std::vector<int64_t>& positions) const {
  std::vector<int64_t> tokens;
  for (int64_t at : positions) {
    const size_t i = static_cast<size_t>(at);
    if (preference_) {
      const PreferenceExample& e = preference_->train[i];
      tokens.push_back(
          static_cast<int64_t>(e.prompt_ids.size() + e.chosen_ids.size() + e.rejected_ids.size()));
    } else {
      const SftExample& e = sft_->train[i];
      tokens.push_back(static_cast<int64_t>(e.prompt_ids.size() + e.completion_ids.size()));
    }
  }
  return tokens;
}

std::vector<at::Tensor> RunSetup::trainable_parameters() const {
  if (lora) return lora->parameters();
  std::vector<at::Tensor> params;
  for (const auto& [name, tensor] : model->named_parameters()) params.push_back(tensor);
  return params;
}

TrainedWeights RunSetup::trained_weights() const {
  TrainedWeights weights;
  weights.lora = lora ? &*lora : nullptr;
  weights.model = &*model;
  weights.model_source_dir = model_source_dir;
  weights.full_model_dtype = dtype;
  weights.tokenizer_dir = tokenizer_dir;
  return weights;
}

LossConfig loss_config_from(const TrainConfig& c) {
  LossConfig loss;
  loss.beta = c.beta;
  loss.loss_types = parse_loss_types(c.loss_type);
  loss.loss_weights = c.loss_weights;
  loss.label_smoothing = c.label_smoothing;
  loss.rpo_alpha = c.rpo_alpha;
  loss.reference_free = c.reference_free;
  loss.ld_alpha = c.ld_alpha;
  loss.use_weighting = c.use_weighting;
  loss.discopop_tau = c.discopop_tau;
  loss.f_divergence_type = parse_f_divergence(c.f_divergence_type);
  loss.f_alpha_divergence_coef = c.f_alpha_divergence_coef;
  loss.validate();
  return loss;
}

RefFreeLossConfig ref_free_config_from(const TrainConfig& c, TrainMode mode) {
  RefFreeLossConfig loss;
  loss.method = mode == TrainMode::kOrpo ? RefFreeMethod::kOrpo : RefFreeMethod::kCpo;
  if (mode == TrainMode::kCpo) loss.cpo_loss = parse_cpo_loss_type(c.loss_type, "loss_type");
  loss.beta = c.beta;
  loss.label_smoothing = c.label_smoothing;
  loss.cpo_alpha = c.cpo_alpha;
  loss.simpo_gamma = c.simpo_gamma;
  loss.alpha = c.alpha;
  loss.validate();
  if (loss.method == RefFreeMethod::kCpo && loss.label_smoothing > 0 &&
      (loss.cpo_loss == CpoLossType::kHinge || loss.cpo_loss == CpoLossType::kIpo))
    log_warn(
        "label_smoothing: the {} loss does not use it (as TRL's CPOTrainer, which warns "
        "too); set it to 0 to remove this warning",
        cpo_loss_type_name(loss.cpo_loss));
  return loss;
}

KtoLossConfig kto_config_from(const TrainConfig& c) {
  KtoLossConfig loss;
  loss.loss_type = parse_kto_loss_type(c.loss_type, "loss_type");
  loss.beta = c.beta;
  loss.desirable_weight = c.desirable_weight;
  loss.undesirable_weight = c.undesirable_weight;
  loss.validate();
  return loss;
}

namespace {

std::string describe_ref_free(const RefFreeLossConfig& l) {
  if (l.method == RefFreeMethod::kOrpo) return fmt::format("ORPO, beta {}", l.beta);
  std::string text = fmt::format("CPO loss_type {}, beta {}, cpo_alpha {}",
                                 cpo_loss_type_name(l.cpo_loss), l.beta, l.cpo_alpha);
  if (l.cpo_loss == CpoLossType::kSimpo) text += fmt::format(", simpo_gamma {}", l.simpo_gamma);
  if (l.alpha != 0.0) text += fmt::format(", AlphaPO alpha {}", l.alpha);
  return text;
}

void setup_device(RunSetup& run) {
  const std::string& device = run.config.device;
  bool cuda = device == "cuda" || (device == "auto" && at::hasCUDA());
  if (cuda && !at::hasCUDA())
    throw_user_error(
        "device: cuda, but this build of dpo has no CUDA support or no GPU is visible (dpo "
        "--version tells which); use device: cpu or build against a CUDA libtorch");
  // data-parallel: one GPU per local rank (LOCAL_RANK), as torchrun's workers use them
  const dist::DistEnv& env = run.options.dist_env;
  const int gpu = env.data_parallel() ? env.local_rank : 0;
  if (cuda && gpu >= at::detail::getCUDAHooks().getNumGPUs())
    throw_user_error(
        "{}: LOCAL_RANK {} needs GPU {}, but {} GPU(s) are visible: start at most that many "
        "ranks per node (LOCAL_WORLD_SIZE), or set device: cpu",
        dist::describe(env), env.local_rank, gpu, at::detail::getCUDAHooks().getNumGPUs());
  run.device =
      cuda ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(gpu)) : at::Device(at::kCPU);
  run.dtype = run.config.bf16.value_or(cuda) ? at::kBFloat16 : at::kFloat;
  // threads 0 (every core): data-parallel ranks on one machine share its cores
  int threads = resolve_thread_count(run.config.threads, "threads");
  if (run.config.threads == 0 && env.data_parallel())
    threads = std::max(1, threads / std::max(1, env.local_world_size));
  at::set_num_threads(threads);
  at::manual_seed(static_cast<uint64_t>(run.config.seed));
  // Denormal floats (below 1.2e-38) flushed to zero on the CPU: a saturated loss (CPO's summed
  // log-prob margins, a confident DPO) sends gradients that small back through the network, and
  // x86 computes on them several times slower (3.7x for a CPO step in bench/RESULTS.md); what they
  // would add is below float32's resolution of every gradient they join.
  const bool flushed = !cuda && at::globalContext().setFlushDenormal(true);
  log_info("device {} ({} base weights), {} CPU threads{}", cuda ? "cuda" : "cpu",
           dtype_option_name(run.dtype), threads, flushed ? ", denormals flushed to zero" : "");
}

void setup_tokenizer(RunSetup& run) {
  run.tokenizer_dir = run.config.tokenizer_name_or_path.value_or(run.config.model_name_or_path);
  if (!fs::is_directory(run.tokenizer_dir) && !is_gguf_file(run.tokenizer_dir))
    throw_user_error(
        "tokenizer_name_or_path / model_name_or_path: {} is not a directory or a "
        ".gguf file",
        run.tokenizer_dir.string());
  run.tokenizer.emplace(load_model_tokenizer(run.tokenizer_dir));
  const std::string& choice = run.config.chat_template;
  if (choice == "auto") {
    if (!run.tokenizer->chat_template().empty())
      run.chat_template.emplace(run.tokenizer->chat_template());
  } else if (is_builtin_chat_template(choice)) {
    run.chat_template.emplace(builtin_chat_template(choice));
  } else if (fs::exists(choice)) {
    run.chat_template.emplace(read_file(choice));
  } else {
    throw_user_error(
        "chat_template: '{}' is neither auto, a built-in template (llama-2, zephyr, chatml, "
        "llama-3) nor an existing file",
        choice);
  }
}

DataOptions data_options_from(const TrainConfig& c) {
  DataOptions options;
  options.dataset = c.dataset;
  options.dataset_format = c.dataset_format;
  options.hh_to_messages = c.hh_to_messages;
  options.eval_dataset = c.eval_dataset;
  options.eval_split_ratio = c.eval_split_ratio;
  options.eval_max_samples = c.eval_max_samples.value_or(0);
  options.seed = static_cast<uint64_t>(c.seed);
  options.max_length = c.max_length.value_or(0);
  options.max_prompt_length = c.max_prompt_length.value_or(0);
  options.max_completion_length = c.max_completion_length.value_or(0);
  options.truncation_mode = c.truncation_mode;
  options.drop_invalid_rows = c.drop_invalid_rows;
  options.completion_only_loss = c.completion_only_loss;
  options.threads = static_cast<int>(std::max<int64_t>(1, at::get_num_threads()));
  return options;
}

// KTO: unpaired rows (or pairs unpaired), read whole, then laid out with their KL completions
// and cut to max_length as TRL's KTOTrainer does (train/kto_data.h).
RunData kto_data(const RunSetup& run, DataOptions options, const TextEncoder& encoder,
                 const ChatRenderer* render) {
  const TrainConfig& c = run.config;
  const KtoLossConfig loss = kto_config_from(c);
  options.max_length = 0;  // KL completions are made from whole completions, then cut
  UnpairedData unpaired = load_unpaired_data(options, encoder, render);
  KtoDataOptions kto;
  kto.max_length = c.max_length.value_or(0);
  kto.kl_chunk_size = c.per_device_train_batch_size;  // TRL: for eval too
  kto.with_kl = loss.uses_kl();
  KtoExamples train = prepare_kto_examples(std::move(unpaired.train), kto);
  KtoExamples eval = prepare_kto_examples(std::move(unpaired.eval), kto);
  if (train.dropped + eval.dropped > 0)
    log_info("KTO: {} train and {} eval examples dropped (prompt alone >= max_length {})",
             train.dropped, eval.dropped, kto.max_length);
  const int64_t desirable = std::count(train.desirable.begin(), train.desirable.end(), 1);
  log_info(
      "KTO: {} train examples ({} desirable, {} undesirable), {} eval; {} sequences cut to "
      "max_length{}",
      train.pairs.size(), desirable, static_cast<int64_t>(train.pairs.size()) - desirable,
      eval.pairs.size(), train.truncated + eval.truncated,
      loss.uses_kl()
          ? "; KL completions rotated within chunks of " + std::to_string(kto.kl_chunk_size)
          : "");
  const std::string warning =
      kto_balance_warning(train.desirable, loss.desirable_weight, loss.undesirable_weight);
  if (!warning.empty()) log_warn("{}", warning);
  PreferenceData pairs;
  pairs.train = std::move(train.pairs);
  pairs.eval = std::move(eval.pairs);
  pairs.train_report = std::move(unpaired.train_report);
  pairs.eval_report = std::move(unpaired.eval_report);
  return RunData(std::move(pairs), {std::move(train.desirable), std::move(eval.desirable)});
}

void setup_data(RunSetup& run) {
  DataOptions options = data_options_from(run.config);
  TextEncoder encoder = make_text_encoder(*run.tokenizer);
  std::optional<ChatRenderer> renderer;
  if (run.chat_template) renderer = make_chat_renderer(*run.chat_template, *run.tokenizer);
  const ChatRenderer* render = renderer ? &*renderer : nullptr;
  if (run.mode == TrainMode::kKto) {
    run.data = kto_data(run, options, encoder, render);
  } else if (run.is_pairwise()) {
    PreferenceData data = load_preference_data(options, encoder, render);
    if (!data.eval.empty()) log_info("eval: {} pairs", data.eval.size());
    run.data = RunData(std::move(data));
  } else {
    run.data = RunData(load_sft_data(options, encoder, render));
  }
  if (run.data.train_size() == 0)
    throw_user_error("dataset: no training examples left after reading and filtering {}",
                     join(run.config.dataset, ", "));
}

// True when every lora_B of `lora` is zero (a fresh PEFT adapter): base + adapter is the base.
bool lora_b_all_zero(const LoraModel& lora) {
  for (const auto& [name, tensor] : lora.named_parameters())
    if (ends_with(name, ".lora_B.weight") && tensor.abs().max().item<double>() != 0.0) return false;
  return true;
}

// The model as training starts: the base, with adapter_name_or_path merged into it (full
// fine-tuning) or attached to it, frozen, dropout off (the reference of a LoRA run that starts
// from an adapter). `adapter_is_zero` (optional) tells whether that adapter's B are all zero.
LlamaModel load_starting_model(const RunSetup& run, bool merge_adapter,
                               bool* adapter_is_zero = nullptr) {
  const TrainConfig& c = run.config;
  LlamaModel model = LlamaModel::load(c.model_name_or_path, run.dtype, run.device);
  if (c.adapter_name_or_path) {
    LoraModel adapter = LoraModel::load(model, *c.adapter_name_or_path);
    adapter.set_requires_grad(false);
    adapter.set_dropout_active(false);
    if (adapter_is_zero) *adapter_is_zero = lora_b_all_zero(adapter);
    if (merge_adapter) adapter.merge_and_unload();
    // else the adapters stay attached to `model` (they hold their own weights and switches)
  }
  return model;
}

void log_adapter_start(const LoraModel& lora, const std::string& adapter_dir) {
  const LoraConfig& l = lora.config();
  log_info(
      "LoRA: training on from the adapter {} (r {}, lora_alpha {}, lora_dropout {}{}); its "
      "adapter_config.json sets the LoRA settings, the lora_* keys are not used",
      adapter_dir, l.r, l.lora_alpha, l.lora_dropout, l.use_rslora ? ", rslora" : "");
}

void setup_model(RunSetup& run) {
  const TrainConfig& c = run.config;
  run.model_source_dir = c.model_name_or_path;
  fs::path weights_dir = c.model_name_or_path;
  if (c.adapter_name_or_path && !fs::is_directory(*c.adapter_name_or_path))
    throw_user_error(
        "adapter_name_or_path: {} is not a folder (expected a PEFT LoRA adapter folder with "
        "adapter_config.json and adapter_model.safetensors)",
        *c.adapter_name_or_path);
  if (run.resume_from && !c.use_peft) weights_dir = run.resume_from->dir;  // a full model
  if (!c.use_peft && !run.resume_from && c.adapter_name_or_path)
    run.model.emplace(load_starting_model(run, /*merge_adapter=*/true));
  else
    run.model.emplace(LlamaModel::load(weights_dir, run.dtype, run.device));
  check_tokenizer_fits_model(*run.tokenizer, run.tokenizer_dir.string(),
                             run.model->config().vocab_size, c.model_name_or_path);
  run.model->set_gradient_checkpointing(c.gradient_checkpointing);
  if (c.use_peft) {
    if (run.resume_from) {
      run.lora.emplace(LoraModel::load(*run.model, run.resume_from->dir));
    } else if (c.adapter_name_or_path) {
      run.lora.emplace(LoraModel::load(*run.model, *c.adapter_name_or_path));
      log_adapter_start(*run.lora, *c.adapter_name_or_path);
    } else {
      LoraConfig lora = lora_config_for(c);
      if (run.model->config().fused_projections) lora = with_fused_target_names(lora);  // phi3
      lora.validate();
      run.lora.emplace(LoraModel::create(*run.model, lora, static_cast<uint64_t>(c.seed)));
    }
    run.lora->set_requires_grad(true);
    run.lora->set_dropout_active(!c.disable_dropout);
    log_info("LoRA: {} trainable parameters in {} modules", run.lora->num_parameters(),
             run.lora->modules().size());
  } else {
    int64_t count = 0;
    for (auto& [name, tensor] : run.model->named_parameters()) {
      tensor.requires_grad_(true);
      count += tensor.numel();
    }
    log_info("full fine-tuning: {} trainable parameters", count);
  }
}

// One reference pass over `examples`, in eval-sized batches, in order. Data-parallel: each rank
// computes its contiguous share, the others' rows stay 0 and the sum over ranks fills the table.
RefLogps compute_reference_table(RunSetup& run, const std::vector<PreferenceExample>& examples) {
  Reference& reference = run.objective->reference();
  const LogProbOptions options = logprob_options_for(run.objective->loss_config(), false);
  const auto [first, last] = run.parallel.share_of(static_cast<int64_t>(examples.size()));
  std::vector<at::Tensor> chosen, rejected;
  const int64_t batch_size = run.config.per_device_eval_batch_size;
  for (int64_t begin = first; begin < last; begin += batch_size) {
    const int64_t end = std::min(last, begin + batch_size);
    std::vector<PreferenceExample> slice(examples.begin() + begin, examples.begin() + end);
    RefLogps logps = reference.logps(*run.model, run.batcher->preference(slice), options, {});
    chosen.push_back(logps.chosen.to(at::kCPU).to(at::kFloat));
    rejected.push_back(logps.rejected.to(at::kCPU).to(at::kFloat));
  }
  const int64_t n = static_cast<int64_t>(examples.size());
  if (!run.parallel.active()) {
    if (chosen.empty()) return {at::empty({0}), at::empty({0})};
    return {at::cat(chosen), at::cat(rejected)};
  }
  at::Tensor table = at::zeros({2, n}, at::kFloat);  // (chosen | rejected, examples)
  if (!chosen.empty()) {
    table[0].slice(0, first, last).copy_(at::cat(chosen));
    table[1].slice(0, first, last).copy_(at::cat(rejected));
  }
  run.parallel.sum_tensor(table, "gathering the reference log-probs");
  return {table[0].clone(), table[1].clone()};
}

// precompute_ref_log_probs: the tables from the cache, or one pass now (then cached).
void precompute_reference(RunSetup& run) {
  const TrainConfig& c = run.config;
  Reference& reference = run.objective->reference();
  RefCacheKeyInput key_input;
  key_input.model = &reference.base_model(*run.model);
  const PreferenceData& data = run.data.preference();
  key_input.train = &data.train;
  key_input.eval = &data.eval;
  key_input.settings = fmt::format("v1 dtype={} device={} ld_alpha={}", c10::toString(run.dtype),
                                   run.device.str(), c.ld_alpha ? *c.ld_alpha : -1.0);
  if (c.adapter_name_or_path) {  // the reference holds the adapter: its weights change the numbers
    Hasher adapter;
    adapter.add_string(read_file(fs::path(*c.adapter_name_or_path) / "adapter_model.safetensors"));
    key_input.settings += " adapter=" + adapter.hex();
  }
  const std::string key = ref_cache_key(key_input);
  const fs::path dir = ref_cache_dir(c.ref_cache_dir);
  std::optional<RefTables> tables = load_ref_cache(dir, key, data.train.size(), data.eval.size());
  // data-parallel: the cache serves only when every rank found it (ranks may not share a disk)
  const double found = run.parallel.sum(tables ? 1.0 : 0.0, "checking the reference cache");
  if (found < run.parallel.world_size()) tables.reset();
  if (tables) {
    log_info("reference log-probs: loaded from the cache {}",
             (dir / (key + ".safetensors")).string());
  } else {
    log_info("reference log-probs: one pass over {} train and {} eval pairs", data.train.size(),
             data.eval.size());
    tables.emplace();
    tables->train = compute_reference_table(run, data.train);
    tables->eval = compute_reference_table(run, data.eval);
    if (run.parallel.is_main()) save_ref_cache(dir, key, *tables);
    log_info("reference log-probs cached in {}", (dir / (key + ".safetensors")).string());
  }
  reference.use_tables(std::move(*tables));  // the frozen copy is no longer needed
}

// The reference is the model as training starts. LoRA from a fresh adapter (or one whose B is
// zero): the policy with its adapters off (no second copy). LoRA from a trained adapter: a
// frozen copy of base + that adapter. Full fine-tuning: a frozen copy of the starting weights.
Reference reference_for(RunSetup& run) {
  const TrainConfig& c = run.config;
  if (!c.use_peft) return Reference::frozen_copy(load_starting_model(run, /*merge_adapter=*/true));
  // (A fresh run's policy is the starting adapter: its B tell without loading a second copy.)
  if (c.adapter_name_or_path && (run.resume_from || !lora_b_all_zero(*run.lora))) {
    bool zero = false;
    LlamaModel start = load_starting_model(run, /*merge_adapter=*/false, &zero);
    if (!zero) {
      log_info("reference: base + the adapter {} (frozen copy)", *c.adapter_name_or_path);
      return Reference::frozen_copy(std::move(start));
    }
  }
  return Reference::adapters_off(&*run.lora);
}

void setup_objective(RunSetup& run) {
  const TrainConfig& c = run.config;
  run.batcher.emplace(*run.model, c.padding_free, c.prompt_sharing && run.is_pairwise(),
                      pad_token_for(&*run.tokenizer, run.model->config()));
  if (!run.is_pairwise()) {
    run.objective.emplace(Objective::sft(*run.model));
    return;
  }
  if (!run.has_reference()) {
    run.objective.emplace(Objective::reference_free(*run.model, ref_free_config_from(c, run.mode)));
    log_info("{}: no reference model, no reference pass ({})", train_mode_command(run.mode),
             describe_ref_free(run.objective->ref_free_config()));
    return;
  }
  if (run.mode == TrainMode::kKto)
    run.objective.emplace(
        Objective::kto(*run.model, kto_config_from(c), reference_for(run), run.data.kto_labels()));
  else
    run.objective.emplace(
        Objective::preference(*run.model, loss_config_from(c), reference_for(run)));
  if (c.precompute_ref_log_probs) precompute_reference(run);
}

void setup_plan(RunSetup& run) {
  const TrainConfig& c = run.config;
  StepPlan& plan = run.plan;
  const int64_t world = run.parallel.world_size();
  const int64_t global_batch = c.per_device_train_batch_size * world;
  plan.num_examples = run.data.train_size();
  plan.batches_per_epoch = (plan.num_examples + global_batch - 1) / global_batch;
  plan.updates_per_epoch =
      std::max<int64_t>(1, (plan.batches_per_epoch + c.gradient_accumulation_steps - 1) /
                               c.gradient_accumulation_steps);
  plan.max_steps =
      c.max_steps > 0
          ? c.max_steps
          : static_cast<int64_t>(std::ceil(c.num_train_epochs * plan.updates_per_epoch));
  plan.max_steps = std::max<int64_t>(plan.max_steps, 1);
  plan.logging_steps = resolve_steps(c.logging_steps, plan.max_steps);
  plan.eval_steps = c.eval_steps ? resolve_steps(*c.eval_steps, plan.max_steps) : 0;
  plan.save_steps = resolve_steps(c.save_steps, plan.max_steps);
  plan.warmup_steps = warmup_steps_for(c.warmup_steps, c.warmup_ratio, plan.max_steps);
  const std::string ranks =
      world > 1 ? fmt::format(" ({} ranks x {})", world, c.per_device_train_batch_size) : "";
  log_info(
      "{} examples, {} micro-batches of {}{} per epoch, {} optimizer steps ({} per epoch, "
      "gradient accumulation {})",
      plan.num_examples, plan.batches_per_epoch, global_batch, ranks, plan.max_steps,
      plan.updates_per_epoch, c.gradient_accumulation_steps);
}

// What a data-parallel run cannot do yet, refused before any work.
void check_data_parallel(const RunSetup& run) {
  if (!run.parallel.active()) return;
  if (run.mode == TrainMode::kKto)
    throw_user_error(
        "dpo kto: data-parallel runs (WORLD_SIZE={}) are not supported yet: KTO's KL term is "
        "a mean over the whole batch; run it in one process",
        run.parallel.world_size());
  for (const std::string& type : run.config.loss_type)
    if (type == "bco_pair")
      throw_user_error(
          "loss_type: bco_pair keeps a running mean of the rewards, which a data-parallel run "
          "(WORLD_SIZE={}) would keep per rank; run it in one process",
          run.parallel.world_size());
}

}  // namespace

void set_up_run(RunSetup& run) {
  check_data_parallel(run);
  setup_device(run);
  setup_tokenizer(run);
  setup_data(run);
  setup_model(run);
  setup_objective(run);
  setup_plan(run);
}

}  // namespace dpo
