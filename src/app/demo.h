// The built-in demo (`dpo demo`): the classic explanation of DPO made real on a CPU.
//
//   assets/demo/corpus.jsonl  --SFT, full fine-tuning, from scratch-->  OUTPUT/sft (HF model)
//   assets/demo/pairs.jsonl   --DPO + LoRA, reference = the SFT model--> OUTPUT/dpo (run folder)
//   assets/demo/probes.json   --> P(right), P(wrong), greedy answer after SFT and after DPO
//
// The corpus states most capitals right more often than wrong ("Dublin" 3x "Cork"), but some
// misconceptions the other way round ("Sydney" more often than "Canberra"). SFT learns those
// frequencies; DPO on pairs for part of the facts moves the model towards the right answers.
// Probes kept out of the pairs (other countries, other phrasings) show whether the shift spreads.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "train/config.h"

namespace dpo {

struct DemoProbe {
  std::string prompt;  // "The capital of Ireland is"
  std::string right;   // " Dublin"
  std::string wrong;   // " Cork"
  bool in_pairs = false;
  std::string kind;  // plain | misconception | paraphrase
  std::string country;
};

// assets/demo/probes.json. UserError naming the file and entry on bad content.
std::vector<DemoProbe> load_demo_probes(const std::filesystem::path& path);

struct DemoOptions {
  std::filesystem::path assets_dir;  // holds corpus.jsonl, pairs.jsonl, probes.json, tokenizer/
  std::filesystem::path output_dir = "dpo-demo";
  bool quick = false;  // the same code path with fewer steps (CI)
  uint64_t seed = 42;
  int64_t threads = 0;  // 0: every core
  bool show_progress = true;
};

// The settings of each stage, so that `--help`, the README and the tests agree on them.
ModelConfig demo_model_config(int64_t vocab_size);
TrainConfig demo_sft_config(const DemoOptions& options, const std::filesystem::path& base_dir);
TrainConfig demo_dpo_config(const DemoOptions& options, const std::filesystem::path& sft_dir);

struct ProbeScore {
  double p_right = 0.0;  // P(right answer tokens | prompt)
  double p_wrong = 0.0;
  std::string greedy;  // greedy continuation up to the first '.' (or 4 tokens)
};

struct DemoRow {
  DemoProbe probe;
  ProbeScore sft;
  ProbeScore dpo;
  // log P(right) - log P(wrong): the margin the pairs push on.
  double margin_sft() const;
  double margin_dpo() const;
};

struct DemoResult {
  std::vector<DemoRow> rows;
  std::filesystem::path base_dir, sft_dir, dpo_dir;
  double seconds_sft = 0.0;
  double seconds_dpo = 0.0;
  double seconds_total = 0.0;
  int64_t sft_steps = 0;
  int64_t dpo_steps = 0;
};

DemoResult run_demo(const DemoOptions& options);

// The table (one row per probe) and the honest summary below it.
std::string demo_report_text(const DemoResult& result);
std::string demo_report_json(const DemoResult& result);

}  // namespace dpo
