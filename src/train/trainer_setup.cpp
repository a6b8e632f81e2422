// The setup steps of a training run: device, tokenizer and chat template, data, model (+ LoRA or
// full fine-tuning), reference (frozen copy or precomputed cache), step plan, optimizer and
// schedule (restored from a checkpoint when resuming).
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <cmath>
#include <thread>

#include "data/batch.h"
#include "data/model_data.h"
#include "data/tokenize.h"
#include "io/dtype.h"
#include "train/preference.h"
#include "train/resume_check.h"
#include "train/run_dir.h"
#include "train/trainer_run.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strings.h"
#include "util/threads.h"

namespace dpo {

int64_t Run::train_size() const {
  return is_preference() ? static_cast<int64_t>(preference.train.size())
                         : static_cast<int64_t>(sft.train.size());
}

TokenBatch Run::preference_batch(const std::vector<PreferenceExample>& pairs) const {
  return to_device(make_preference_batch(pairs, batch_layout(), pad_token_id, packed_row_tokens()),
                   device);
}

TokenBatch Run::sft_batch(const std::vector<SftExample>& examples) const {
  return to_device(make_sft_batch(examples, batch_layout(), pad_token_id, packed_row_tokens()),
                   device);
}

LossSetup Run::loss_setup() {
  LossSetup setup;
  setup.model = &*model;
  setup.lora = lora ? &*lora : nullptr;
  setup.reference_model = reference_model ? &*reference_model : nullptr;
  setup.loss = loss_config_from(config);
  setup.bco_state = &bco_state;
  setup.reference_forwards = &reference_forwards;
  return setup;
}

std::vector<at::Tensor> Run::trainable_parameters() const {
  if (lora) return lora->parameters();
  std::vector<at::Tensor> params;
  for (const auto& [name, tensor] : model->named_parameters()) params.push_back(tensor);
  return params;
}

TrainedWeights Run::trained_weights() const {
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
  loss.validate();
  return loss;
}

void setup_device(Run& run) {
  const std::string& device = run.config.device;
  bool cuda = device == "cuda" || (device == "auto" && at::hasCUDA());
  if (cuda && !at::hasCUDA())
    throw_user_error(
        "device: cuda, but this build of dpo has no CUDA support or no GPU is visible (dpo "
        "--version tells which); use device: cpu or build against a CUDA libtorch");
  run.device = cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  run.dtype = run.config.bf16.value_or(cuda) ? at::kBFloat16 : at::kFloat;
  const int threads = resolve_thread_count(run.config.threads, "threads");
  at::set_num_threads(threads);
  at::manual_seed(static_cast<uint64_t>(run.config.seed));
  log_info("device {} ({} base weights), {} CPU threads", cuda ? "cuda" : "cpu",
           dtype_option_name(run.dtype), threads);
}

void setup_tokenizer(Run& run) {
  run.tokenizer_dir = run.config.tokenizer_name_or_path.value_or(run.config.model_name_or_path);
  if (!fs::is_directory(run.tokenizer_dir))
    throw_user_error("tokenizer_name_or_path / model_name_or_path: {} is not a directory",
                     run.tokenizer_dir.string());
  run.tokenizer.emplace(Tokenizer::from_dir(run.tokenizer_dir));
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
  if (auto pad = run.tokenizer->pad_id()) {
    run.pad_token_id = *pad;
  } else if (auto eos = run.tokenizer->eos_id()) {
    run.pad_token_id = *eos;  // TRL: pad_token = eos_token when the tokenizer has none
  }
}

namespace {

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
  options.threads = static_cast<int>(std::max<int64_t>(1, at::get_num_threads()));
  return options;
}

// completion_only_loss: false scores the whole sequence (the pipeline's empty-prompt form).
void score_full_sequences(std::vector<SftExample>& examples) {
  for (auto& example : examples) {
    TokenIds all = example.prompt_ids;
    all.insert(all.end(), example.completion_ids.begin(), example.completion_ids.end());
    example.prompt_ids.clear();
    example.completion_ids = std::move(all);
  }
}

}  // namespace

void setup_data(Run& run) {
  DataOptions options = data_options_from(run.config);
  TextEncoder encoder = make_text_encoder(*run.tokenizer);
  std::optional<ChatRenderer> renderer;
  if (run.chat_template) renderer = make_chat_renderer(*run.chat_template, *run.tokenizer);
  const ChatRenderer* render = renderer ? &*renderer : nullptr;
  if (run.is_preference()) {
    run.preference = load_preference_data(options, encoder, render);
    if (!run.preference.eval.empty()) log_info("eval: {} pairs", run.preference.eval.size());
  } else {
    run.sft = load_sft_data(options, encoder, render);
    if (!run.config.completion_only_loss) {
      score_full_sequences(run.sft.train);
      score_full_sequences(run.sft.eval);
    }
  }
  if (run.train_size() == 0)
    throw_user_error("dataset: no training examples left after reading and filtering {}",
                     join(run.config.dataset, ", "));
}

void setup_model(Run& run) {
  const TrainConfig& c = run.config;
  run.model_source_dir = c.model_name_or_path;
  fs::path weights_dir = c.model_name_or_path;
  if (run.resume_dir) check_resume_settings(c, *run.resume_dir);
  if (run.resume_dir && !c.use_peft) weights_dir = *run.resume_dir;  // full model checkpoint
  run.model.emplace(LlamaModel::load(weights_dir, run.dtype, run.device));
  check_tokenizer_fits_model(*run.tokenizer, run.tokenizer_dir.string(),
                             run.model->config().vocab_size, c.model_name_or_path);
  run.model->set_gradient_checkpointing(c.gradient_checkpointing);
  if (c.use_peft) {
    if (run.resume_dir) {
      run.lora.emplace(LoraModel::load(*run.model, *run.resume_dir));
    } else {
      LoraConfig lora = lora_config_for(c);
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

namespace {

RefLogpsTable compute_reference_table(Run& run, const std::vector<PreferenceExample>& examples) {
  LossSetup setup = run.loss_setup();
  LogProbOptions options = logprob_options_for(setup.loss, false);
  ReferenceSource source;
  source.reference_model = setup.reference_model;
  source.lora = setup.lora;
  std::vector<at::Tensor> chosen, rejected;
  const int64_t batch_size = run.config.per_device_eval_batch_size;
  for (size_t begin = 0; begin < examples.size(); begin += batch_size) {
    size_t end = std::min(examples.size(), begin + batch_size);
    std::vector<PreferenceExample> slice(examples.begin() + begin, examples.begin() + end);
    TokenBatch batch = run.preference_batch(slice);
    ReferenceLogps logps = reference_log_probs(*run.model, batch, options, source);
    ++run.reference_forwards;
    chosen.push_back(logps.chosen.to(at::kCPU).to(at::kFloat));
    rejected.push_back(logps.rejected.to(at::kCPU).to(at::kFloat));
  }
  if (chosen.empty()) return {at::empty({0}), at::empty({0})};
  return {at::cat(chosen), at::cat(rejected)};
}

}  // namespace

void setup_reference(Run& run) {
  const TrainConfig& c = run.config;
  if (!run.is_preference()) return;
  if (!c.use_peft)  // the policy is the whole model: the reference needs its own copy
    run.reference_model.emplace(LlamaModel::load(c.model_name_or_path, run.dtype, run.device));
  if (!c.precompute_ref_log_probs) return;

  const LlamaModel& base = run.reference_model ? *run.reference_model : *run.model;
  RefCacheKeyInput key_input;
  key_input.model = &base;
  key_input.train = &run.preference.train;
  key_input.eval = &run.preference.eval;
  key_input.settings = fmt::format("v1 dtype={} device={} ld_alpha={}", c10::toString(run.dtype),
                                   run.device.str(), c.ld_alpha ? *c.ld_alpha : -1.0);
  const std::string key = ref_cache_key(key_input);
  const fs::path dir = ref_cache_dir(c.ref_cache_dir);
  run.reference = load_ref_cache(dir, key, run.preference.train.size(), run.preference.eval.size());
  if (run.reference) {
    log_info("reference log-probs: loaded from the cache {}",
             (dir / (key + ".safetensors")).string());
  } else {
    log_info("reference log-probs: one pass over {} train and {} eval pairs",
             run.preference.train.size(), run.preference.eval.size());
    CachedRefLogps computed;
    computed.train = compute_reference_table(run, run.preference.train);
    computed.eval = compute_reference_table(run, run.preference.eval);
    save_ref_cache(dir, key, computed);
    run.reference = computed;
    log_info("reference log-probs cached in {}", (dir / (key + ".safetensors")).string());
  }
  run.reference_model.reset();  // no longer needed
}

void setup_plan(Run& run) {
  const TrainConfig& c = run.config;
  StepPlan& plan = run.plan;
  plan.num_examples = run.train_size();
  plan.batches_per_epoch =
      (plan.num_examples + c.per_device_train_batch_size - 1) / c.per_device_train_batch_size;
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
  log_info(
      "{} examples, {} micro-batches of {} per epoch, {} optimizer steps ({} per epoch, "
      "gradient accumulation {})",
      plan.num_examples, plan.batches_per_epoch, c.per_device_train_batch_size, plan.max_steps,
      plan.updates_per_epoch, c.gradient_accumulation_steps);
}

void setup_optimizer(Run& run) {
  const TrainConfig& c = run.config;
  std::vector<std::pair<std::string, at::Tensor>> params =
      run.lora ? run.lora->named_parameters() : run.model->named_parameters();
  AdamWOptions options;
  options.lr = c.learning_rate;
  options.beta1 = c.adam_beta1;
  options.beta2 = c.adam_beta2;
  options.eps = c.adam_epsilon;
  run.optimizer = std::make_unique<AdamW>(weight_decay_groups(params, c.weight_decay), options);
  run.schedule =
      std::make_unique<LrSchedule>(parse_schedule_type(c.lr_scheduler_type), c.learning_rate,
                                   run.plan.warmup_steps, run.plan.max_steps);
  TrainerState& state = run.state;
  state.max_steps = run.plan.max_steps;
  state.num_train_epochs =
      (run.plan.max_steps + run.plan.updates_per_epoch - 1) / run.plan.updates_per_epoch;
  state.logging_steps = run.plan.logging_steps;
  state.eval_steps = run.plan.eval_steps;
  state.save_steps = run.plan.save_steps;
  state.train_batch_size = c.per_device_train_batch_size;
  if (!run.resume_dir) return;

  LoadedCheckpoint checkpoint = read_checkpoint(*run.resume_dir);
  const std::string source = run.resume_dir->string();
  const bool extending = checkpoint.state.max_steps != run.plan.max_steps;
  if (extending && checkpoint.state.global_step < run.plan.max_steps)
    log_warn(
        "{}: the checkpoint belongs to a run of {} steps, this config makes {}: the run goes on "
        "to step {} and the {} learning-rate schedule is rebuilt for {} steps (warmup {}), "
        "applied from step {} on, as transformers' Trainer does",
        source, checkpoint.state.max_steps, run.plan.max_steps, run.plan.max_steps,
        c.lr_scheduler_type, run.plan.max_steps, run.plan.warmup_steps,
        checkpoint.state.global_step);
  run.schedule->check_saved(checkpoint.scheduler_json, source + "/scheduler.json", extending);
  run.optimizer->load_state_dict(checkpoint.optimizer_state, source + "/optimizer.safetensors");
  state.global_step = checkpoint.state.global_step;
  state.epoch = checkpoint.state.epoch;
  state.num_input_tokens_seen = checkpoint.state.num_input_tokens_seen;
  state.log_history = checkpoint.state.log_history;
  run.position = checkpoint.rng;
  RngState::restore_cpu_generator(run.position.cpu_generator);
  if (run.device.is_cuda()) RngState::restore_cuda_generator(run.position.cuda_generator);
  log_info("resuming from {} at step {} (epoch {:.3f})", source, state.global_step, state.epoch);
}

}  // namespace dpo
