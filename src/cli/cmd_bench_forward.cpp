// `dpo bench forward`: tokens/s of the model's forward pass (hidden states + lm_head) on random
// weights of a given shape, over sequences whose lengths come from a lengths file
// (bench/hh_like_lengths.json: [prompt, chosen, rejected] per pair -> two sequences per pair).
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/bench_lengths.h"
#include "cli/command.h"
#include "io/dtype.h"
#include "model/llama.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json_depth.h"
#include "util/strings.h"

namespace dpo::cli {
namespace {

// TinyLlama-1.1B and two smaller shapes with the same vocabulary.
ModelConfig shape_preset(const std::string& name) {
  ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = 32000;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 2048;
  if (name == "tinyllama") {
    c.hidden_size = 2048, c.intermediate_size = 5632, c.num_hidden_layers = 22;
    c.num_attention_heads = 32, c.num_key_value_heads = 4;
  } else if (name == "small") {
    c.hidden_size = 512, c.intermediate_size = 1408, c.num_hidden_layers = 4;
    c.num_attention_heads = 8, c.num_key_value_heads = 4;
  } else if (name == "tiny") {
    c.hidden_size = 64, c.intermediate_size = 172, c.num_hidden_layers = 2;
    c.num_attention_heads = 4, c.num_key_value_heads = 2;
  } else {
    throw_user_error("--model-shape: unknown shape '{}' (expected tinyllama, small or tiny)", name);
  }
  c.head_dim = c.hidden_size / c.num_attention_heads;
  return c;
}

// Sequence lengths prompt+chosen, prompt+rejected for each pair, capped at max_length.
std::vector<int64_t> read_lengths(const fs::path& file, int64_t max_length) {
  const std::string text = read_file(file);
  check_json_depth(text, file.string());
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("pairs") || !j["pairs"].is_array())
    throw_user_error("{}: expected a JSON object with \"pairs\": [[prompt, chosen, rejected], ...]",
                     file.string());
  std::vector<int64_t> lengths;
  size_t index = 0;
  for (const auto& pair : j["pairs"]) {
    if (!pair.is_array() || pair.size() != 3 || !pair[0].is_number_integer() ||
        !pair[1].is_number_integer() || !pair[2].is_number_integer() ||
        pair[0].get<int64_t>() < 1 || pair[1].get<int64_t>() < 1 || pair[2].get<int64_t>() < 1)
      throw_user_error("{}: pairs[{}]: expected [prompt, chosen, rejected] positive token counts",
                       file.string(), index);
    for (int side = 1; side <= 2; ++side)
      lengths.push_back(std::min(max_length, pair[0].get<int64_t>() + pair[side].get<int64_t>()));
    ++index;
  }
  return lengths;
}

struct Timing {
  double seconds = 0;
  int64_t real_tokens = 0, padded_tokens = 0;
};

// One pass over all sequences in right-padded batches.
Timing run_pass(const LlamaModel& model, const std::vector<int64_t>& lengths, int64_t batch_size,
                uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Timing timing;
  for (size_t start = 0; start < lengths.size(); start += batch_size) {
    size_t end = std::min(lengths.size(), start + static_cast<size_t>(batch_size));
    int64_t N = static_cast<int64_t>(end - start);
    int64_t T = *std::max_element(lengths.begin() + start, lengths.begin() + end);
    ModelInput input;
    input.input_ids = at::randint(model.config().vocab_size, {N, T}, gen, at::kLong);
    input.attention_mask = at::zeros({N, T}, at::kLong);
    for (int64_t n = 0; n < N; ++n)
      input.attention_mask[n].narrow(0, 0, lengths[start + n]).fill_(1);
    input.input_ids = input.input_ids.to(model.device());
    input.attention_mask = input.attention_mask.to(model.device());
    if (model.device().is_cuda()) at::globalContext().lazyInitCUDA();
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor logits = model.logits(model.forward_hidden(input));  // (N, T, V)
    (void)logits.sum().item<float>();                               // waits for the device
    timing.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t i = start; i < end; ++i) timing.real_tokens += lengths[i];
    timing.padded_tokens += N * T;
  }
  return timing;
}

int run_bench_forward(std::vector<std::string>& args) {
  CLI::App app{"Forward-pass throughput (tokens/s) on random weights of a model shape."};
  std::string shape = "tinyllama", lengths_file, dtypes = "f32,bf16", device_name = "cpu";
  int64_t sequences = 8, batch_size = 4, max_length = 1024, repeats = 1;
  int64_t threads = 0;
  bool json = false;
  app.add_option("--model-shape", shape,
                 "tinyllama (1.1B: 22 x 2048, 32 heads, 4 kv heads), small or tiny");
  app.add_option("--lengths", lengths_file,
                 "lengths file ({\"pairs\": [[prompt, chosen, rejected], ...]}; default: the "
                 "repository's bench/hh_like_lengths.json)");
  app.add_option("--sequences", sequences, "how many sequences (two per pair, in file order)")
      ->check(at_least(1));
  app.add_option("--batch-size", batch_size, "sequences per right-padded batch")
      ->check(at_least(1));
  app.add_option("--max-length", max_length, "cap on each sequence length")->check(at_least(1));
  app.add_option("--dtype", dtypes, "comma-separated: f32, bf16");
  app.add_option("--device", device_name, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--repeats", repeats, "timed passes after one warm-up pass (best is reported)")
      ->check(at_least(1));
  add_threads_option(app, threads);
  app.add_flag("--json", json, "one JSON object per dtype");
  if (auto code = parse_args(app, args)) return *code;
  set_threads(threads);
  if (device_name == "cuda" && !at::hasCUDA())
    throw_user_error("--device cuda: this build or machine has no CUDA");
  at::Device device = device_name == "cuda" ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  ModelConfig config = shape_preset(shape);
  if (lengths_file.empty()) lengths_file = default_bench_lengths_file().string();
  std::vector<int64_t> lengths = read_lengths(lengths_file, max_length);
  if (static_cast<int64_t>(lengths.size()) > sequences) lengths.resize(sequences);

  for (const std::string& dtype_name : split(dtypes, ',')) {
    at::ScalarType dtype = parse_dtype_option(trim(dtype_name), "--dtype");
    LlamaModel model = LlamaModel::random(config, dtype, device, 0);
    run_pass(model, lengths, batch_size, 1);  // warm-up
    Timing best;
    for (int64_t r = 0; r < repeats; ++r) {
      Timing t = run_pass(model, lengths, batch_size, 1);
      if (r == 0 || t.seconds < best.seconds) best = t;
    }
    double tokens_per_s = best.real_tokens / best.seconds;
    if (json) {
      nlohmann::json row = {{"bench", "forward"},
                            {"shape", shape},
                            {"dtype", trim(dtype_name)},
                            {"device", device_name},
                            {"threads", at::get_num_threads()},
                            {"sequences", lengths.size()},
                            {"batch_size", batch_size},
                            {"tokens", best.real_tokens},
                            {"padded_tokens", best.padded_tokens},
                            {"seconds", best.seconds},
                            {"tokens_per_s", tokens_per_s}};
      std::printf("%s\n", row.dump().c_str());
    } else {
      std::printf(
          "forward %-9s %-4s %s, %d threads: %zu sequences (%lld tokens, %lld padded) in %.2f s: "
          "%.1f tokens/s\n",
          shape.c_str(), trim(dtype_name).c_str(), device_name.c_str(), at::get_num_threads(),
          lengths.size(), static_cast<long long>(best.real_tokens),
          static_cast<long long>(best.padded_tokens), best.seconds, tokens_per_s);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

DPO_COMMAND("bench forward",
            "forward-pass tokens/s on random weights (--model-shape tinyllama|small|tiny)",
            run_bench_forward);

}  // namespace dpo::cli
