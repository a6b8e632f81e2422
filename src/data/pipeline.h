// The data pipeline: dataset files -> rows -> format -> token ids -> truncation -> examples,
// with a report of what happened (format, rows, invalid rows by reason, truncated, dropped).
// Plain C++, no libtorch. The trainer maps its YAML keys onto DataOptions (same names).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/examples.h"
#include "data/formats.h"
#include "data/tokenize.h"
#include "data/truncate.h"

namespace dpo {

struct DataOptions {
  std::vector<std::string> dataset;       // files, directories, FILE.json:SPLIT
  std::string dataset_format = "auto";    // auto|standard|conversational|implicit|hh|pretokenized
                                          // (SFT: auto|prompt_completion|messages|text)
  bool hh_to_messages = false;            // hh: apply the chat template to the turns
  std::string chat_template = "auto";     // auto (the tokenizer's), a built-in name, or a file
  std::vector<std::string> eval_dataset;  // explicit eval data, or:
  double eval_split_ratio = 0;            // a seeded random share of `dataset` held out
  int64_t eval_max_samples = 0;           // first N eval examples (0 = all)
  uint64_t seed = 42;
  int64_t max_length = 1024;  // 0 = no limit
  int64_t max_prompt_length = 0;
  int64_t max_completion_length = 0;
  std::string truncation_mode = "keep_start";
  bool drop_invalid_rows = false;
  // SFT: false scores every token: the prompt joins the completion before truncation, so a long
  // prompt is cut (keep_start) rather than dropping the row, as TRL's SFTTrainer does.
  bool completion_only_loss = true;
  int threads = 2;       // tokenization threads
  int64_t max_rows = 0;  // read at most this many rows per dataset (0 = all)
};

struct DataReport {
  std::string source;  // the dataset specs, joined
  DatasetFormat format = DatasetFormat::kAuto;
  bool format_detected = false;
  int64_t rows = 0;          // rows read
  int64_t invalid_rows = 0;  // skipped (drop_invalid_rows)
  std::map<std::string, int64_t> invalid_by_reason;
  std::vector<std::string> invalid_examples;  // the first few messages
  int64_t truncated_rows = 0;
  int64_t dropped_rows = 0;  // prompt alone >= max_length (keep_start)
  int64_t kept_rows = 0;
  // Rows where the prompt's tokens are not a prefix of prompt + completion's (the boundary falls
  // inside a token): split where they stop agreeing, as TRL 1.16 does, and warned about.
  int64_t boundary_mismatches = 0;
  std::string first_boundary_mismatch;  // FILE:LINE of the first
  // Preference pairs whose chosen and rejected tokens are identical (as given, or after
  // truncation): their DPO loss is constant, so they train nothing.
  int64_t identical_pairs = 0;
  std::string first_identical_pair;  // FILE:LINE of the first

  // Multi-line human summary ("detected format: ...", counts, reasons).
  std::string summary() const;
};

// The warnings for boundary_mismatches and identical_pairs (> 0), naming the first row.
std::string boundary_mismatch_warning(const DataReport& report);
std::string identical_pairs_warning(const DataReport& report);

struct PreferenceData {
  std::vector<PreferenceExample> train, eval;
  DataReport train_report, eval_report;
};

struct SftData {
  std::vector<SftExample> train, eval;
  DataReport train_report, eval_report;
};

// KTO's examples: unpaired rows, or preference pairs unpaired (from_pairs).
struct UnpairedData {
  std::vector<UnpairedExample> train, eval;
  DataReport train_report, eval_report;
  bool from_pairs = false;
};

// Reads, parses and tokenizes. UserError on the first bad row (file:line, field, expectation)
// unless drop_invalid_rows. `renderer` may be null when no row holds chat messages.
PreferenceData load_preference_data(const DataOptions& options, const TextEncoder& encoder,
                                    const ChatRenderer* renderer);
SftData load_sft_data(const DataOptions& options, const TextEncoder& encoder,
                      const ChatRenderer* renderer);
// KTO: the unpaired format (prompt/completion/label; dataset_format unpaired, or auto and a first
// row with a label), or any preference format unpaired by unpair_preference_examples.
UnpairedData load_unpaired_data(const DataOptions& options, const TextEncoder& encoder,
                                const ChatRenderer* renderer);
// TRL's unpair_preference_dataset (datasets' map, batched, 1000 rows a batch): each block of up
// to 1000 pairs becomes its chosen completions (label true), then its rejected ones (false);
// indices are the new positions.
std::vector<UnpairedExample> unpair_preference_examples(std::vector<PreferenceExample> pairs);

// One dataset (no eval split), for `dpo data inspect` and tests.
std::vector<PreferenceExample> read_preference_examples(const std::vector<std::string>& specs,
                                                        const DataOptions& options,
                                                        const TextEncoder& encoder,
                                                        const ChatRenderer* renderer,
                                                        DataReport& report);
std::vector<SftExample> read_sft_examples(const std::vector<std::string>& specs,
                                          const DataOptions& options, const TextEncoder& encoder,
                                          const ChatRenderer* renderer, DataReport& report);
// Rows of the unpaired format only (prompt, completion, label).
std::vector<UnpairedExample> read_unpaired_examples(const std::vector<std::string>& specs,
                                                    const DataOptions& options,
                                                    const TextEncoder& encoder,
                                                    const ChatRenderer* renderer,
                                                    DataReport& report);
// True when `options.dataset_format` is unpaired, or (auto) the first readable row has a label.
bool is_unpaired_dataset(const DataOptions& options);

// Splits `all` into train and eval: eval = a seeded random eval_split_ratio share (in dataset
// order), at least one example when the ratio is > 0; then eval_max_samples keeps its first N.
template <typename Example>
void split_train_eval(std::vector<Example>& all, double ratio, uint64_t seed,
                      std::vector<Example>& train, std::vector<Example>& eval);

}  // namespace dpo
