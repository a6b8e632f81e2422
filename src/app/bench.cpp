// `dpo bench train`: shapes, lengths, FLOP count, matmul rate, memory, and the timed DPO step.
// Shape legend: P pairs, N rows, T time, C hidden, V vocab.
#include "app/bench.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "io/dtype.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "train/data_parallel.h"
#include "train/losses.h"
#include "train/objective.h"
#include "train/optimizer.h"
#include "train/preference.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/json_depth.h"
#include "util/log.h"

#ifdef DPO_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace dpo {

// ------------------------------------------------------------------------------------- shapes

namespace {

ModelConfig llama_shape(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t layers,
                        int64_t heads, int64_t kv_heads) {
  ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 2048;
  c.tie_word_embeddings = false;
  c.rope.theta = 10000.0;
  c.bos_token_ids = {1};
  c.eos_token_ids = {2};
  c.torch_dtype = "bfloat16";
  return c;
}

}  // namespace

std::vector<std::string> bench_objective_names() {
  return {"dpo", "cpo", "simpo", "orpo"};
}

std::vector<std::string> bench_model_shape_names() {
  return {"tinyllama-1.1b", "small", "tiny"};
}

ModelConfig bench_model_shape(const std::string& name) {
  if (name == "tinyllama-1.1b") return llama_shape(32000, 2048, 5632, 22, 32, 4);  // the peer's
  if (name == "small") return llama_shape(8192, 256, 688, 4, 8, 4);                // CPU figure
  if (name == "tiny") return llama_shape(1024, 64, 128, 2, 4, 2);                  // tests
  throw_user_error(
      "--model-shape: unknown shape '{}' (expected one of: tinyllama-1.1b, small, tiny)", name);
}

// ------------------------------------------------------------------------------------ lengths

std::vector<std::array<int64_t, 3>> load_bench_lengths(const std::filesystem::path& path) {
  nlohmann::json doc = parse_json(read_file(path), path.string());
  if (!doc.is_object() || !doc.contains("pairs") || !doc["pairs"].is_array() ||
      doc["pairs"].empty())
    throw_user_error(
        "{}: expected an object with a non-empty \"pairs\" list of [prompt, chosen, rejected] "
        "lengths",
        path.string());
  std::vector<std::array<int64_t, 3>> lengths;
  for (size_t i = 0; i < doc["pairs"].size(); ++i) {
    const auto& entry = doc["pairs"][i];
    bool ok = entry.is_array() && entry.size() == 3;
    for (size_t k = 0; ok && k < 3; ++k)
      ok = entry[k].is_number_integer() && entry[k].get<int64_t>() >= 1;
    if (!ok)
      throw_user_error(
          "{}: pairs[{}]: expected [prompt, chosen, rejected] as three integers >= 1, got {}",
          path.string(), i, entry.dump());
    lengths.push_back({entry[0].get<int64_t>(), entry[1].get<int64_t>(), entry[2].get<int64_t>()});
  }
  return lengths;
}

// -------------------------------------------------------------------------------------- FLOPs

double step_model_flops(const ModelConfig& c,
                        const std::vector<std::array<int64_t, 3>>& pair_lengths,
                        bool reference_pass, bool shared_prompt) {
  const double q_out = static_cast<double>(c.num_attention_heads * c.head_dim);
  const double kv_out = static_cast<double>(c.num_key_value_heads * c.head_dim);
  const double C = static_cast<double>(c.hidden_size);
  const double layer_params = C * q_out + 2 * C * kv_out + q_out * C + 3 * C * c.intermediate_size;
  const double matmul_params = c.num_hidden_layers * layer_params + C * c.vocab_size;  // + lm_head
  double tokens = 0.0, attention = 0.0;
  // Q K^T and P V: 2 matmuls x 2 FLOP per multiply-add x (D*H) per (query, visible key); the
  // queries from..to-1 of a causal sequence see from+1 .. to keys.
  auto causal = [&](int64_t from, int64_t to) {
    const double a = static_cast<double>(from), b = static_cast<double>(to);
    return 4.0 * q_out * (b * (b + 1) - a * (a + 1)) / 2.0;
  };
  for (const auto& [p, ch, r] : pair_lengths) {
    if (shared_prompt) {  // the prompt once; each answer's queries see the prompt and itself
      tokens += static_cast<double>(p + ch + r);
      attention += causal(0, p + ch) + causal(p, p + r);
      continue;
    }
    for (int64_t len : {p + ch, p + r}) {
      tokens += static_cast<double>(len);
      attention += causal(0, len);
    }
  }
  const double forward = 2.0 * matmul_params * tokens + c.num_hidden_layers * attention;
  return (reference_pass ? 3.0 : 2.0) * forward;
}

// --------------------------------------------------------------------- device: sync, memory, rate

namespace {

void synchronize(const at::Device& device) {
#ifdef DPO_WITH_CUDA
  if (device.is_cuda()) c10::cuda::device_synchronize();
#else
  (void)device;
#endif
}

void reset_peak_memory(const at::Device& device) {
#ifdef DPO_WITH_CUDA
  if (device.is_cuda())
    c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#else
  (void)device;
#endif
}

double peak_memory_gib(const at::Device& device) {
#ifdef DPO_WITH_CUDA
  if (device.is_cuda()) {
    auto stats =
        c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    // Entry 0 is StatType::AGGREGATE (all pools), in every libtorch; the enum itself has moved
    // between namespaces across versions, so it is not named here.
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);
  }
#endif
  (void)device;
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB on Linux
}

std::string device_name(const at::Device& device) {
#ifdef DPO_WITH_CUDA
  if (device.is_cuda()) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device.index() < 0 ? 0 : device.index()) == cudaSuccess)
      return prop.name;
    return "cuda";
  }
#endif
  return device.is_cuda() ? "cuda" : fmt::format("cpu ({} threads)", at::get_num_threads());
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Dense square matmul rate in TFLOP/s for `dtype` on `device` (8192^3 on a GPU as the peer, 1024^3
// on a CPU).
double measure_matmul_tflops(const at::Device& device, at::ScalarType dtype) {
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const int reps = device.is_cuda() ? 10 : 3;
  auto options = at::TensorOptions().device(device).dtype(dtype);
  at::Tensor a = at::randn({n, n}, options), b = at::randn({n, n}, options);
  for (int i = 0; i < (device.is_cuda() ? 3 : 1); ++i) at::matmul(a, b);
  synchronize(device);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) at::matmul(a, b);
  synchronize(device);
  return reps * 2.0 * static_cast<double>(n) * n * n / seconds_since(start) / 1e12;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

}  // namespace

// ---------------------------------------------------------------------------------- the step

namespace {

// Random token ids for one pair of the given lengths (ids 3.. V-1: no special tokens).
PreferenceExample random_pair(const std::array<int64_t, 3>& lengths, int64_t vocab,
                              std::mt19937_64& rng, int64_t index) {
  std::uniform_int_distribution<int64_t> id(3, vocab - 1);
  auto draw = [&](int64_t n) {
    TokenIds ids(static_cast<size_t>(n));
    for (auto& t : ids) t = static_cast<TokenId>(id(rng));
    return ids;
  };
  PreferenceExample pair;
  pair.prompt_ids = draw(lengths[0]);
  pair.chosen_ids = draw(lengths[1]);
  pair.rejected_ids = draw(lengths[2]);
  pair.index = index;
  return pair;
}

struct StepOutput {
  double loss = 0.0;               // this rank's share of the step's loss
  int64_t computed_tokens = 0;     // token positions the model ran over (padding included)
  double wait_seconds = 0.0;       // data-parallel: waiting for the slowest rank's backward
  double allreduce_seconds = 0.0;  // then the gradients' sum over the ranks
};

// The objective of the step, as the trainer builds it: DPO (sigmoid) against the policy with its
// adapters off, or CPO (sigmoid), SimPO (cpo_alpha 0, beta 2) / ORPO with no reference.
Objective bench_objective(const BenchOptions& options, const LlamaModel& model,
                          const LoraModel& lora) {
  if (options.objective == "dpo") {
    LossConfig loss;
    loss.beta = options.beta;
    return Objective::preference(model, loss, Reference::adapters_off(&lora));
  }
  RefFreeLossConfig loss;
  loss.method = options.objective == "orpo" ? RefFreeMethod::kOrpo : RefFreeMethod::kCpo;
  loss.beta = options.beta;
  if (options.objective == "simpo") {  // the paper's settings: no NLL term, beta 2
    loss.cpo_loss = CpoLossType::kSimpo;
    loss.cpo_alpha = 0.0;
    loss.beta = 2.0;
  }
  return Objective::reference_free(model, loss);
}

// One step as the trainer runs it: the objective's forward and backward (Objective::accumulate:
// reference pass where it has one, policy pass, loss, metrics, backward; a data-parallel rank's
// loss weighted by its share of the step), the gradients summed over the ranks, clipping at 1.0,
// AdamW.
StepOutput train_step(Objective& objective, const LoraModel& lora, AdamW& optimizer,
                      MicroBatch batch, const DataParallel* parallel, double share) {
  const int64_t positions = batch.tokens.input.input_ids.numel();
  const at::Device device = batch.tokens.input.input_ids.device();
  StepShare step_share;
  if (parallel) step_share = StepShare{1, {share}, nullptr};
  AccumulatedStep step = objective.accumulate({std::move(batch)}, step_share);
  StepOutput out;
  if (parallel) {  // a barrier first, so that the all-reduce's time is its own, not the wait
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    parallel->barrier("waiting for every rank's backward");
    out.wait_seconds = seconds_since(start);
    const auto reduce_start = std::chrono::steady_clock::now();
    parallel->sum_gradients(lora.parameters(), "summing the bench step's gradients");
    synchronize(device);
    out.allreduce_seconds = seconds_since(reduce_start);
  }
  clip_grad_norm(lora.parameters(), 1.0);
  optimizer.step();
  optimizer.zero_grad();
  out.loss = step.loss;
  out.computed_tokens = positions;
  return out;
}

}  // namespace

BenchResult run_bench_train(const BenchOptions& options, const DataParallel* parallel) {
  if (parallel && !parallel->active()) parallel = nullptr;
  const int64_t world = parallel ? parallel->world_size() : 1;
  const int64_t step_pairs = options.pairs_per_step * world;  // every rank's
  // As the trainer (train/run_setup.cpp): denormals flushed to zero on the CPU.
  if (!options.device.is_cuda()) at::globalContext().setFlushDenormal(true);
  BenchResult result;
  result.options = options;
  const ModelConfig config = bench_model_shape(options.model_shape);
  const auto all_lengths = load_bench_lengths(options.lengths_file);
  const at::Device device = options.device;
  result.device_name = device_name(device);

  // Random base weights, LoRA r=16 alpha=32 on every projection (dropout 0, as TRL's
  // disable_dropout).
  LlamaModel model = LlamaModel::random(config, options.dtype, device, options.seed);
  model.set_gradient_checkpointing(options.gradient_checkpointing);
  AttentionChoice attention;
  attention.varlen = options.varlen;
  model.set_attention(attention);
  const bool shared = options.layout == BatchLayout::kPromptSharing;
  const bool varlen = model.packed_rows_use_varlen_attention(shared);
  const RowWidth packed_row_width = RowWidth::for_attention(varlen);
  if (options.layout == BatchLayout::kPadded)
    result.attention =
        varlen ? "varlen (each row's sequence, then its padding; no mask)" : "dense (padding mask)";
  else if (shared)
    result.attention = varlen ? "varlen (one row, no mask; the rejected answer's keys: the "
                                "prompt's, then its own)"
                              : "dense (prompt-sharing mask, rows as wide as the longest pair)";
  else
    result.attention = varlen ? "varlen (one row, no mask)"
                              : "dense (segment mask, rows as wide as the longest sequence)";
  for (const auto& [name, tensor] : model.named_parameters()) result.parameters += tensor.numel();
  LoraConfig lora_config;
  lora_config.r = options.lora_r;
  lora_config.lora_alpha = static_cast<double>(options.lora_alpha);
  lora_config.lora_dropout = 0.0;
  LoraModel lora = LoraModel::create(model, lora_config, options.seed + 1);
  lora.set_dropout_active(false);
  result.lora_parameters = lora.num_parameters();
  AdamWOptions adam;
  adam.lr = options.learning_rate;
  AdamW optimizer({ParamGroup{lora.named_parameters(), 0.0}}, adam);
  Objective objective = bench_objective(options, model, lora);

  if (parallel) parallel->barrier("starting the matmul rate together");
  result.matmul_tflops = measure_matmul_tflops(device, options.dtype);
  if (parallel) result.matmul_tflops = parallel->sum(result.matmul_tflops, "the matmul rates");

  // Pairs in file order (wrapping around when the run needs more than the file holds).
  std::mt19937_64 rng(options.seed);
  size_t next_pair = 0;
  int64_t real_tokens = 0, computed_tokens = 0, shared_tokens = 0;
  double useful_flops = 0.0;
  reset_peak_memory(device);
  std::vector<double> allreduce_seconds, wait_seconds;
  for (int64_t step = 0; step < options.warmup + options.steps; ++step) {
    // the step's pairs, the same on every rank (one rng); this rank trains on its share
    std::vector<PreferenceExample> pairs;
    std::vector<std::array<int64_t, 3>> step_lengths;
    std::vector<int64_t> indices, tokens;
    for (int64_t i = 0; i < step_pairs; ++i, ++next_pair) {
      const auto& lengths = all_lengths[next_pair % all_lengths.size()];
      step_lengths.push_back(lengths);
      pairs.push_back(
          random_pair(lengths, config.vocab_size, rng, static_cast<int64_t>(next_pair)));
      indices.push_back(i);
      tokens.push_back(lengths[0] + lengths[1] + lengths[2]);
    }
    if (parallel) {  // this rank's share, as the trainer shards a global micro-batch
      std::vector<PreferenceExample> mine;
      for (int64_t i : parallel->shard(indices, options.pairs_per_step, tokens))
        mine.push_back(std::move(pairs[static_cast<size_t>(i)]));
      pairs = std::move(mine);
    }
    MicroBatch batch;
    batch.tokens = to_device(
        make_preference_batch(pairs, options.layout, /*pad_token_id=*/0, packed_row_width), device);
    for (int64_t i = 0; i < static_cast<int64_t>(pairs.size()); ++i)
      batch.rows.positions.push_back(i);
    const int64_t batch_shared_tokens = batch.tokens.shared_tokens;
    const double share = static_cast<double>(pairs.size()) / static_cast<double>(step_pairs);
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    StepOutput out = train_step(objective, lora, optimizer, std::move(batch), parallel, share);
    synchronize(device);
    const double seconds = seconds_since(start);
    result.losses.push_back(out.loss);
    if (step < options.warmup) continue;
    result.step_seconds.push_back(seconds);
    allreduce_seconds.push_back(out.allreduce_seconds);
    wait_seconds.push_back(out.wait_seconds);
    for (const auto& [p, c, r] : step_lengths) real_tokens += 2 * p + c + r;
    computed_tokens += out.computed_tokens;
    shared_tokens += batch_shared_tokens;
    useful_flops += step_model_flops(config, step_lengths, objective.has_reference(), shared);
    log_debug("bench step {}: {:.4f} s, loss {:.4f}", step, seconds, out.loss);
  }
  if (parallel) {  // every rank's positions and loss shares
    computed_tokens = static_cast<int64_t>(
        std::llround(parallel->sum(static_cast<double>(computed_tokens), "the positions")));
    shared_tokens = static_cast<int64_t>(
        std::llround(parallel->sum(static_cast<double>(shared_tokens), "the shared tokens")));
    for (double& loss : result.losses) loss = parallel->sum(loss, "the step losses");
    result.world_size = static_cast<int>(world);
    result.backend = parallel->backend();
    result.allreduce_seconds_median = median(allreduce_seconds);
  }
  const double total = std::accumulate(result.step_seconds.begin(), result.step_seconds.end(), 0.0);
  result.sec_per_step_median = median(result.step_seconds);
  result.sec_per_step_mean = total / static_cast<double>(result.step_seconds.size());
  result.pairs_per_s = static_cast<double>(step_pairs * options.steps) / total;
  result.allreduce_share =
      std::accumulate(allreduce_seconds.begin(), allreduce_seconds.end(), 0.0) / total;
  result.wait_share = std::accumulate(wait_seconds.begin(), wait_seconds.end(), 0.0) / total;
  result.real_tokens_per_s = static_cast<double>(real_tokens) / total;
  result.padded_tokens_per_s = static_cast<double>(computed_tokens) / total;
  result.pad_fraction =
      1.0 - static_cast<double>(real_tokens - shared_tokens) / static_cast<double>(computed_tokens);
  result.shared_fraction = static_cast<double>(shared_tokens) / static_cast<double>(real_tokens);
  result.peak_mem_gib = peak_memory_gib(device);
  result.model_tflops = useful_flops / total / 1e12;
  result.mfu = result.matmul_tflops > 0 ? result.model_tflops / result.matmul_tflops : 0.0;
  return result;
}

BenchResult run_bench_train_scaling(const BenchOptions& options, const DataParallel& parallel,
                                    int single_process_threads, int rank_threads) {
  double single_rate = 0.0;
  if (parallel.is_main()) {
    at::set_num_threads(single_process_threads);
    BenchOptions whole = options;
    whole.pairs_per_step = options.pairs_per_step * parallel.world_size();
    single_rate = run_bench_train(whole).real_tokens_per_s;
    log_info("bench: one process, {} pairs per step: {:.1f} real tokens/s", whole.pairs_per_step,
             single_rate);
  }
  parallel.barrier("waiting for rank 0's single-process measurement");
  at::set_num_threads(rank_threads);
  BenchResult result = run_bench_train(options, &parallel);
  if (parallel.is_main()) {
    result.single_process_real_tokens_per_s = single_rate;
    result.scaling = single_rate > 0 ? result.real_tokens_per_s / single_rate : 0.0;
  }
  return result;
}

// ------------------------------------------------------------------------------------ output

std::string bench_result_json(const BenchResult& r) {
  const auto& o = r.options;
  nlohmann::json j = {
      {"impl", "dpo.cpp"},
      {"model_shape", o.model_shape},
      {"device", o.device.is_cuda() ? "cuda" : "cpu"},
      {"device_name", r.device_name},
      {"dtype", dtype_option_name(o.dtype)},
      {"layout", batch_layout_name(o.layout)},
      {"objective", o.objective},
      {"attention", r.attention},
      {"pairs_per_step", o.pairs_per_step},
      {"gradient_checkpointing", o.gradient_checkpointing},
      {"lora_r", o.lora_r},
      {"lora_alpha", o.lora_alpha},
      {"beta", o.beta},
      {"steps", o.steps},
      {"warmup", o.warmup},
      {"parameters", r.parameters},
      {"lora_parameters", r.lora_parameters},
      {"sec_per_step_median", r.sec_per_step_median},
      {"sec_per_step_mean", r.sec_per_step_mean},
      {"pairs_per_s", r.pairs_per_s},
      {"real_tokens_per_s", r.real_tokens_per_s},
      {"padded_tokens_per_s", r.padded_tokens_per_s},
      {"pad_fraction", r.pad_fraction},
      {"shared_fraction", r.shared_fraction},
      {"peak_mem_gib", r.peak_mem_gib},
      {"matmul_tflops", r.matmul_tflops},
      {"model_tflops", r.model_tflops},
      {"mfu", r.mfu},
      {"losses", r.losses},
      {"world_size", r.world_size},
  };
  if (r.world_size > 1) {
    j["backend"] = r.backend;
    j["allreduce_seconds_median"] = r.allreduce_seconds_median;
    j["allreduce_share"] = r.allreduce_share;
    j["wait_share"] = r.wait_share;
    j["single_process_real_tokens_per_s"] = r.single_process_real_tokens_per_s;
    j["scaling"] = r.scaling;
  }
  return j.dump();
}

std::string bench_result_text(const BenchResult& r) {
  const auto& o = r.options;
  std::string out = fmt::format(
      "dpo bench train: {} step, {} ({:.1f}M params, LoRA r={} alpha={}: {:.2f}M trainable), {} "
      "{}, {} layout, {} pairs/step, gradient checkpointing {}\n",
      o.objective, o.model_shape, r.parameters / 1e6, o.lora_r, o.lora_alpha,
      r.lora_parameters / 1e6, r.device_name, dtype_option_name(o.dtype),
      batch_layout_name(o.layout), o.pairs_per_step * r.world_size,
      o.gradient_checkpointing ? "on" : "off");
  out += fmt::format("  attention        {}\n", r.attention);
  if (r.world_size > 1)
    out += fmt::format(
        "  data-parallel    {} ranks (c10d {}), {} pairs/step each, {} in all; the rates below "
        "are of the whole step\n",
        r.world_size, r.backend, o.pairs_per_step, o.pairs_per_step * r.world_size);
  out += fmt::format("  steps            {} timed after {} warm-up\n", o.steps, o.warmup);
  out += fmt::format("  s/step           {:.4f} (median), {:.4f} (mean)\n", r.sec_per_step_median,
                     r.sec_per_step_mean);
  out += fmt::format("  pairs/s          {:.2f}\n", r.pairs_per_s);
  out += fmt::format("  real tokens/s    {:.1f}   (2*prompt + chosen + rejected per pair)\n",
                     r.real_tokens_per_s);
  out += fmt::format("  padded tokens/s  {:.1f}\n", r.padded_tokens_per_s);
  out += fmt::format("  pad fraction     {:.3f}\n", r.pad_fraction);
  if (o.layout == BatchLayout::kPromptSharing)
    out += fmt::format(
        "  shared fraction  {:.3f}   (prompt tokens computed once, of the real tokens)\n",
        r.shared_fraction);
  out += fmt::format("  peak memory      {:.3f} GiB ({})\n", r.peak_mem_gib,
                     o.device.is_cuda() ? "CUDA caching allocator peak" : "max RSS of the process");
  out += fmt::format("  matmul rate      {:.3f} TFLOP/s ({} dense, measured now)\n",
                     r.matmul_tflops, dtype_option_name(o.dtype));
  out += fmt::format("  model FLOP rate  {:.3f} TFLOP/s   MFU {:.3f}\n", r.model_tflops, r.mfu);
  if (r.world_size > 1) {
    out += fmt::format("  all-reduce       {:.4f} s/step (median), {:.1f}% of the step time\n",
                       r.allreduce_seconds_median, 100.0 * r.allreduce_share);
    out += fmt::format(
        "  rank imbalance   {:.1f}% of the step time waiting for the slowest rank's backward\n",
        100.0 * r.wait_share);
    out += fmt::format(
        "  scaling          {:.2f}x: {:.1f} real tokens/s in one process over the same {} "
        "pairs/step, measured first in this run\n",
        r.scaling, r.single_process_real_tokens_per_s, o.pairs_per_step * r.world_size);
  }
  std::string losses;
  for (double l : r.losses) losses += fmt::format("{}{:.4f}", losses.empty() ? "" : " ", l);
  out += fmt::format("  losses           {}\n", losses);
  return out;
}

}  // namespace dpo
