// `dpo demo`: from-scratch base model, SFT on the corpus, DPO + LoRA on the pairs, probe table.
// Shape legend: T time, V vocab.
#include "app/demo.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "lora/lora_model.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/json_depth.h"
#include "util/log.h"

namespace dpo {

// ------------------------------------------------------------------------------------- probes

std::vector<DemoProbe> load_demo_probes(const std::filesystem::path& path) {
  nlohmann::json doc = parse_json(read_file(path), path.string());
  if (!doc.is_array() || doc.empty())
    throw_user_error("{}: expected a non-empty list of probes {{prompt, right, wrong, in_pairs}}",
                     path.string());
  std::vector<DemoProbe> probes;
  for (size_t i = 0; i < doc.size(); ++i) {
    const auto& e = doc[i];
    auto text = [&](const char* key) {
      if (!e.is_object() || !e.contains(key) || !e[key].is_string() ||
          e[key].get<std::string>().empty())
        throw_user_error("{}: probe {}: \"{}\" must be a non-empty string", path.string(), i, key);
      return e[key].get<std::string>();
    };
    DemoProbe probe;
    probe.prompt = text("prompt");
    probe.right = text("right");
    probe.wrong = text("wrong");
    if (!e.contains("in_pairs") || !e["in_pairs"].is_boolean())
      throw_user_error("{}: probe {}: \"in_pairs\" must be true or false", path.string(), i);
    probe.in_pairs = e["in_pairs"].get<bool>();
    probe.kind = e.value("kind", "");
    probe.country = e.value("country", "");
    probes.push_back(std::move(probe));
  }
  return probes;
}

// ------------------------------------------------------------------------------------ settings

ModelConfig demo_model_config(int64_t vocab_size) {
  ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = vocab_size;
  c.hidden_size = 96;
  c.intermediate_size = 256;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 24;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = false;
  c.rope.theta = 10000.0;
  c.bos_token_ids = {1};
  c.eos_token_ids = {2};
  c.torch_dtype = "float32";
  return c;
}

namespace {

void set_common(TrainConfig& c, const DemoOptions& options) {
  c.device = "cpu";
  c.bf16 = false;
  c.threads = options.threads;
  c.seed = static_cast<int64_t>(options.seed);
  c.max_length = 32;
  c.max_prompt_length = 24;
  c.report_to = {"jsonl"};
  c.tokenizer_name_or_path = (options.assets_dir / "tokenizer").string();
}

std::vector<std::string> probe_prompts(const DemoOptions& options) {
  std::vector<std::string> prompts;
  for (const auto& probe : load_demo_probes(options.assets_dir / "probes.json"))
    prompts.push_back(probe.prompt);
  return prompts;
}

}  // namespace

TrainConfig demo_sft_config(const DemoOptions& options, const std::filesystem::path& base_dir) {
  TrainConfig c = default_train_config(TrainMode::kSft);
  set_common(c, options);
  c.model_name_or_path = base_dir.string();
  c.dataset = {(options.assets_dir / "corpus.jsonl").string()};
  c.use_peft = false;  // full fine-tuning: the "standard training" of the explanation
  c.learning_rate = 3e-3;
  c.lr_scheduler_type = "linear";
  c.warmup_ratio = 0.05;
  c.weight_decay = 0.0;
  c.per_device_train_batch_size = 32;
  c.num_train_epochs = options.quick ? 6 : 12;
  c.logging_steps = 10;
  c.save_steps = 0.999;  // one checkpoint, at the end
  c.save_total_limit = 1;
  c.eval_prompts = {};
  c.output_dir = (options.output_dir / "sft").string();
  return c;
}

TrainConfig demo_dpo_config(const DemoOptions& options, const std::filesystem::path& sft_dir) {
  TrainConfig c = default_train_config(TrainMode::kPreference);
  set_common(c, options);
  c.model_name_or_path = sft_dir.string();
  c.dataset = {(options.assets_dir / "pairs.jsonl").string()};
  c.eval_dataset = c.dataset;  // eval loss / rewards charts in report.html
  c.use_peft = true;
  c.lora_r = 8;
  c.lora_alpha = 16;
  c.lora_dropout = 0.0;
  c.beta = 0.1;
  c.loss_type = {"sigmoid"};
  // 1e-2 collapses both answers' probabilities (the too-high-lr picture of the README)
  c.learning_rate = 5e-4;
  c.lr_scheduler_type = "constant";
  c.per_device_train_batch_size = 5;
  c.per_device_eval_batch_size = 10;
  c.num_train_epochs = options.quick ? 20 : 22;
  c.logging_steps = 1;
  c.eval_steps = 0.25;
  c.save_steps = 0.5;
  c.eval_prompts = probe_prompts(options);
  c.generation_max_new_tokens = 4;
  c.output_dir = (options.output_dir / "dpo").string();
  return c;
}

double DemoRow::margin_sft() const {
  return std::log(sft.p_right) - std::log(sft.p_wrong);
}
double DemoRow::margin_dpo() const {
  return std::log(dpo.p_right) - std::log(dpo.p_wrong);
}

// ------------------------------------------------------------------------------ stage (a): base

namespace {

void copy_tokenizer_files(const std::filesystem::path& from, const std::filesystem::path& to) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"})
    write_file_atomic(to / name, read_file(from / name));
}

// A from-scratch Llama with random weights, written as a Hugging Face model folder.
std::filesystem::path write_base_model(const DemoOptions& options, int64_t vocab_size) {
  const auto dir = options.output_dir / "base";
  ensure_directory(dir);
  ModelConfig config = demo_model_config(vocab_size);
  LlamaModel model = LlamaModel::random(config, at::kFloat, at::kCPU, options.seed);
  std::map<std::string, at::Tensor> tensors;
  for (auto& [name, tensor] : model.named_parameters()) tensors[name] = tensor;
  save_safetensors(dir / "model.safetensors", tensors);
  write_file_atomic(dir / "config.json", config.to_json_text());
  copy_tokenizer_files(options.assets_dir / "tokenizer", dir);
  return dir;
}

// --------------------------------------------------------------------------------- scoring

// log P(answer tokens | prompt) with TRL's tokenization: answer ids = ids(prompt + answer) minus
// the prompt's ids.
double answer_logprob(const LlamaModel& model, const Tokenizer& tokenizer,
                      const std::string& prompt, const std::string& answer) {
  TokenIds prompt_ids = tokenizer.encode(prompt);
  TokenIds full_ids = tokenizer.encode(prompt + answer);
  DPO_CHECK(full_ids.size() > prompt_ids.size() &&
                std::equal(prompt_ids.begin(), prompt_ids.end(), full_ids.begin()),
            "demo: '{}' + '{}' does not extend the prompt's tokens", prompt, answer);
  at::NoGradGuard no_grad;
  ModelInput input;
  input.input_ids =
      at::tensor(std::vector<int64_t>(full_ids.begin(), full_ids.end()), at::kLong).unsqueeze(0);
  at::Tensor logits = model.logits(model.forward_hidden(input))[0].to(at::kFloat);  // (T, V)
  at::Tensor logprobs = at::log_softmax(logits, -1);
  double total = 0.0;
  for (size_t t = prompt_ids.size(); t < full_ids.size(); ++t)
    total += logprobs[static_cast<int64_t>(t) - 1][full_ids[t]].item<double>();
  return total;
}

// Greedy continuation: up to 4 tokens, stopping after '.' or at EOS.
std::string greedy_answer(const LlamaModel& model, const Tokenizer& tokenizer,
                          const std::string& prompt) {
  at::NoGradGuard no_grad;
  TokenIds ids = tokenizer.encode(prompt);
  const size_t prompt_len = ids.size();
  const auto eos = tokenizer.eos_id();
  for (int i = 0; i < 4; ++i) {
    ModelInput input;
    input.input_ids =
        at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
    at::Tensor hidden = model.forward_hidden(input);                       // (1, T, C)
    at::Tensor last = model.logits(hidden.select(1, hidden.size(1) - 1));  // (1, V)
    auto next = static_cast<TokenId>(last.argmax(-1).item<int64_t>());
    if (eos && next == *eos) break;
    ids.push_back(next);
    if (tokenizer.id_to_token(next) == ".") break;
  }
  return tokenizer.decode(
      TokenIds(ids.begin() + static_cast<std::ptrdiff_t>(prompt_len), ids.end()), true);
}

ProbeScore score_probe(const LlamaModel& model, const Tokenizer& tokenizer,
                       const DemoProbe& probe) {
  ProbeScore score;
  score.p_right = std::exp(answer_logprob(model, tokenizer, probe.prompt, probe.right));
  score.p_wrong = std::exp(answer_logprob(model, tokenizer, probe.prompt, probe.wrong));
  score.greedy = greedy_answer(model, tokenizer, probe.prompt);
  return score;
}

// The SFT model with the DPO adapter merged in: what `dpo merge` would write.
LlamaModel load_dpo_model(const std::filesystem::path& sft_dir,
                          const std::filesystem::path& adapter_dir) {
  LlamaModel model = LlamaModel::load(sft_dir, at::kFloat, at::kCPU);
  LoraModel adapter = LoraModel::load(model, adapter_dir);
  adapter.merge_and_unload();
  return model;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// -------------------------------------------------------------------------------------- run

DemoResult run_demo(const DemoOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  for (const char* name :
       {"corpus.jsonl", "pairs.jsonl", "probes.json", "tokenizer/tokenizer.json"})
    if (!std::filesystem::exists(options.assets_dir / name))
      throw_user_error(
          "demo assets: {} is missing (expected the repository's assets/demo folder; "
          "regenerate with scripts/make_demo_assets.py)",
          (options.assets_dir / name).string());
  const auto probes = load_demo_probes(options.assets_dir / "probes.json");
  Tokenizer tokenizer = Tokenizer::from_dir(options.assets_dir / "tokenizer");
  ensure_directory(options.output_dir);

  DemoResult result;
  // (a) a small Llama with random weights
  log_info("demo: (a) random {}-layer Llama, hidden {}, vocab {} -> {}",
           demo_model_config(0).num_hidden_layers, demo_model_config(0).hidden_size,
           tokenizer.vocab_size(), (options.output_dir / "base").string());
  result.base_dir = write_base_model(options, static_cast<int64_t>(tokenizer.vocab_size()));

  // (b) SFT on the corpus: the "standard training" that learns the corpus frequencies
  RunOptions run_options;
  run_options.show_progress = options.show_progress;
  auto t = std::chrono::steady_clock::now();
  log_info("demo: (b) SFT (full fine-tuning) on {}",
           (options.assets_dir / "corpus.jsonl").string());
  TrainResult sft =
      run_training(demo_sft_config(options, result.base_dir), TrainMode::kSft, run_options);
  result.sft_dir = sft.final_dir;
  result.sft_steps = sft.global_step;
  result.seconds_sft = seconds_since(t);

  // (c) DPO with LoRA on the pairs, reference = the SFT model (adapter off)
  t = std::chrono::steady_clock::now();
  log_info("demo: (c) DPO + LoRA on {} against the SFT model",
           (options.assets_dir / "pairs.jsonl").string());
  TrainResult dpo =
      run_training(demo_dpo_config(options, result.sft_dir), TrainMode::kPreference, run_options);
  result.dpo_dir = dpo.output_dir;
  result.dpo_steps = dpo.global_step;
  result.seconds_dpo = seconds_since(t);

  // (d) the probes, after SFT and after DPO
  LlamaModel sft_model = LlamaModel::load(result.sft_dir, at::kFloat, at::kCPU);
  LlamaModel dpo_model = load_dpo_model(result.sft_dir, dpo.final_dir);
  for (const auto& probe : probes) {
    DemoRow row;
    row.probe = probe;
    row.sft = score_probe(sft_model, tokenizer, probe);
    row.dpo = score_probe(dpo_model, tokenizer, probe);
    result.rows.push_back(std::move(row));
  }
  result.seconds_total = seconds_since(start);
  return result;
}

// ----------------------------------------------------------------------------------- report

namespace {

struct GroupSummary {
  int count = 0;
  int right_wins_sft = 0;
  int right_wins_dpo = 0;
  int margin_up = 0;
  double mean_margin_change = 0.0;
};

GroupSummary summarize(const std::vector<DemoRow>& rows, bool in_pairs,
                       const std::string& kind_filter) {
  GroupSummary s;
  for (const auto& row : rows) {
    if (row.probe.in_pairs != in_pairs) continue;
    if (!kind_filter.empty() && row.probe.kind != kind_filter) continue;
    if (kind_filter.empty() && !in_pairs && row.probe.kind == "paraphrase") continue;
    ++s.count;
    s.right_wins_sft += row.sft.p_right > row.sft.p_wrong;
    s.right_wins_dpo += row.dpo.p_right > row.dpo.p_wrong;
    s.margin_up += row.margin_dpo() > row.margin_sft();
    s.mean_margin_change += row.margin_dpo() - row.margin_sft();
  }
  if (s.count) s.mean_margin_change /= s.count;
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string describe(const char* name, const GroupSummary& s) {
  if (s.count == 0) return "";
  std::string verdict;
  if (s.margin_up == s.count && s.mean_margin_change > 0.1)
    verdict = "moved towards the right answer on every probe";
  else if (s.margin_up * 2 > s.count && s.mean_margin_change > 0.1)
    verdict =
        fmt::format("moved towards the right answer on {} of {} probes", s.margin_up, s.count);
  else if (std::abs(s.mean_margin_change) <= 0.1)
    verdict = "barely moved";
  else if (s.mean_margin_change < 0)
    verdict = "moved AWAY from the right answer";
  else
    verdict = fmt::format("moved on only {} of {} probes", s.margin_up, s.count);
  return fmt::format(
      "  {:<38} {:>2} probes: right > wrong on {:>2} after SFT, {:>2} after DPO; mean change of "
      "log P(right)/P(wrong) {:+.2f}: {}\n",
      name, s.count, s.right_wins_sft, s.right_wins_dpo, s.mean_margin_change, verdict);
}

}  // namespace

std::string demo_report_text(const DemoResult& r) {
  std::string out =
      fmt::format("\n{:<36} {:<11} {:<11} | {:>7} {:>7} {:<11} | {:>7} {:>7} {:<11} | {}\n",
                  "probe", "right", "wrong", "P(right)", "P(wrong)", "SFT greedy", "P(right)",
                  "P(wrong)", "DPO greedy", "in pairs");
  out += fmt::format("{:<36} {:<11} {:<11} | {:^28} | {:^28} |\n", "", "", "", "after SFT",
                     "after DPO");
  out += std::string(132, '-') + "\n";
  for (const auto& row : r.rows) {
    const auto& p = row.probe;
    out += fmt::format(
        "{:<36} {:<11} {:<11} | {:>8.3f} {:>8.3f} {:<11} | {:>8.3f} {:>8.3f} {:<11} | {}\n",
        p.prompt, trim(p.right), trim(p.wrong), row.sft.p_right, row.sft.p_wrong,
        trim(row.sft.greedy), row.dpo.p_right, row.dpo.p_wrong, trim(row.dpo.greedy),
        p.in_pairs ? "yes" : (p.kind == "paraphrase" ? "no (paraphrase of a pair)" : "no"));
  }
  out += "\nWhat moved (margin = log P(right) - log P(wrong), SFT -> DPO):\n";
  out += describe("in the preference pairs", summarize(r.rows, true, ""));
  out += describe("held out, same phrasing, other facts", summarize(r.rows, false, ""));
  out +=
      describe("held out, other phrasing, facts in pairs", summarize(r.rows, false, "paraphrase"));
  out += fmt::format(
      "\nTime: SFT {:.1f} s ({} steps), DPO {:.1f} s ({} steps), total {:.1f} s.\n"
      "Folders: base model {}, SFT model {}, DPO run {} (report.html, metrics.jsonl, "
      "generations.jsonl).\n",
      r.seconds_sft, r.sft_steps, r.seconds_dpo, r.dpo_steps, r.seconds_total, r.base_dir.string(),
      r.sft_dir.string(), r.dpo_dir.string());
  return out;
}

std::string demo_report_json(const DemoResult& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : r.rows) {
    rows.push_back(
        {{"prompt", row.probe.prompt},
         {"right", row.probe.right},
         {"wrong", row.probe.wrong},
         {"in_pairs", row.probe.in_pairs},
         {"kind", row.probe.kind},
         {"country", row.probe.country},
         {"sft",
          {{"p_right", row.sft.p_right}, {"p_wrong", row.sft.p_wrong}, {"greedy", row.sft.greedy}}},
         {"dpo",
          {{"p_right", row.dpo.p_right}, {"p_wrong", row.dpo.p_wrong}, {"greedy", row.dpo.greedy}}},
         {"margin_sft", row.margin_sft()},
         {"margin_dpo", row.margin_dpo()}});
  }
  nlohmann::json doc = {{"probes", rows},
                        {"base_dir", r.base_dir.string()},
                        {"sft_dir", r.sft_dir.string()},
                        {"dpo_dir", r.dpo_dir.string()},
                        {"sft_steps", r.sft_steps},
                        {"dpo_steps", r.dpo_steps},
                        {"seconds_sft", r.seconds_sft},
                        {"seconds_dpo", r.seconds_dpo},
                        {"seconds_total", r.seconds_total}};
  return doc.dump(1);
}

}  // namespace dpo
