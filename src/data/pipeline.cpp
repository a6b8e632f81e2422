#include "data/pipeline.h"

#include <fmt/format.h>

#include <algorithm>

#include "data/reader.h"
#include "data/sampler.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strings.h"

namespace dpo {

namespace {

constexpr size_t kBlockRows = 4096;     // rows parsed and tokenized together (in parallel)
constexpr size_t kInvalidExamples = 5;  // messages kept for the summary

TruncationOptions truncation_options(const DataOptions& options) {
  TruncationOptions t;
  t.max_length = options.max_length;
  t.max_prompt_length = options.max_prompt_length;
  t.max_completion_length = options.max_completion_length;
  t.mode = parse_truncation_mode(options.truncation_mode);
  return t;
}

// What happened to one row of a block.
template <typename Example>
struct Outcome {
  Example example;
  std::string invalid_reason, invalid_message;
  TruncationResult truncation = TruncationResult::kUnchanged;
  bool boundary_mismatch = false;
  bool identical_pair = false;
};

bool is_identical_pair(const PreferenceExample& example) {
  return example.chosen_ids == example.rejected_ids;
}
bool is_identical_pair(const SftExample&) {
  return false;
}
bool is_identical_pair(const UnpairedExample&) {
  return false;
}

void check_format_kind(DatasetFormat format, bool preference) {
  if (format == DatasetFormat::kAuto ||
      (format != DatasetFormat::kUnpaired && is_preference_format(format) == preference))
    return;
  throw_user_error(
      "dataset_format: '{}' is {} format, but this run needs {} data (expected one "
      "of: {})",
      format_name(format),
      format == DatasetFormat::kUnpaired ? "the unpaired (KTO, dpo kto)"
      : preference                       ? "an SFT"
                                         : "a preference",
      preference ? "preference" : "SFT",
      preference ? "auto, standard, conversational, implicit, hh, pretokenized"
                 : "auto, prompt_completion, messages, text");
}

// The preference, SFT or unpaired (KTO) part of the pipeline.
struct PreferenceKind {
  using Example = PreferenceExample;
  static constexpr bool kPreference = true;
  static constexpr DatasetFormat kFallback = DatasetFormat::kStandard;
  static void check_format(DatasetFormat format) { check_format_kind(format, true); }
  static DatasetFormat detect(const RawRow& row) { return detect_preference_format(row); }
  static Example make(const RawRow& row, DatasetFormat format, const DataOptions& options,
                      const TextEncoder& encoder, const ChatRenderer* renderer,
                      TokenizeStats& stats) {
    FormatOptions format_options;
    format_options.hh_to_messages = options.hh_to_messages;
    return tokenize_preference_row(parse_preference_row(row, format, format_options), encoder,
                                   renderer, &stats);
  }
};

struct SftKind {
  using Example = SftExample;
  static constexpr bool kPreference = false;
  static constexpr DatasetFormat kFallback = DatasetFormat::kText;
  static void check_format(DatasetFormat format) { check_format_kind(format, false); }
  static DatasetFormat detect(const RawRow& row) { return detect_sft_format(row); }
  static Example make(const RawRow& row, DatasetFormat format, const DataOptions& options,
                      const TextEncoder& encoder, const ChatRenderer* renderer,
                      TokenizeStats& stats) {
    Example example = tokenize_sft_row(parse_sft_row(row, format), encoder, renderer, &stats);
    if (!options.completion_only_loss) {  // every token scored: the empty-prompt form
      example.prompt_ids.insert(example.prompt_ids.end(), example.completion_ids.begin(),
                                example.completion_ids.end());
      example.completion_ids = std::move(example.prompt_ids);
      example.prompt_ids.clear();
    }
    return example;
  }
};

// Unpaired rows (KTO) in the unpaired format; paired data goes through PreferenceKind and is
// unpaired afterwards (load_unpaired_data).
struct UnpairedKind {
  using Example = UnpairedExample;
  static constexpr bool kPreference = false;
  static constexpr DatasetFormat kFallback = DatasetFormat::kUnpaired;
  static void check_format(DatasetFormat format) {
    if (format != DatasetFormat::kAuto && format != DatasetFormat::kUnpaired)
      throw_internal_error("UnpairedKind reads the unpaired format only");
  }
  static DatasetFormat detect(const RawRow&) { return DatasetFormat::kUnpaired; }
  static Example make(const RawRow& row, DatasetFormat, const DataOptions&,
                      const TextEncoder& encoder, const ChatRenderer* renderer,
                      TokenizeStats& stats) {
    UnpairedRow unpaired = parse_unpaired_row(row);
    SftExample sft = tokenize_sft_row(unpaired.row, encoder, renderer, &stats);
    return {std::move(sft.prompt_ids), std::move(sft.completion_ids), unpaired.label, sft.index};
  }
};

// Detects the format from the first readable object row of the block (once).
template <typename Kind>
void detect_if_needed(const std::vector<RawRow>& block, DataReport& report) {
  if (report.format != DatasetFormat::kAuto) return;
  for (const RawRow& row : block) {
    if (!row.ok() || !row.value.is_object()) continue;
    report.format = Kind::detect(row);
    report.format_detected = true;  // logged with the summary
    return;
  }
}

template <typename Kind>
void process_block(const std::vector<RawRow>& block, const DataOptions& options,
                   const TruncationOptions& truncation, const TextEncoder& encoder,
                   const ChatRenderer* renderer, DataReport& report,
                   std::vector<typename Kind::Example>& kept) {
  using Example = typename Kind::Example;
  detect_if_needed<Kind>(block, report);
  // Rows before any detectable row are all unreadable: any format reports them the same way.
  DatasetFormat format = report.format == DatasetFormat::kAuto ? Kind::kFallback : report.format;
  std::vector<Outcome<Example>> outcomes(block.size());
  parallel_for(block.size(), options.threads, [&](size_t i) {
    Outcome<Example>& out = outcomes[i];
    try {
      TokenizeStats stats;
      out.example = Kind::make(block[i], format, options, encoder, renderer, stats);
      out.boundary_mismatch = stats.boundary_mismatches > 0;
      out.truncation = truncate_example(out.example, truncation);
      out.identical_pair = is_identical_pair(out.example);
    } catch (const InvalidRow& e) {
      out.invalid_reason = e.reason();
      out.invalid_message = e.what();
    }
  });
  for (size_t i = 0; i < outcomes.size(); ++i) {
    Outcome<Example>& out = outcomes[i];
    ++report.rows;
    if (!out.invalid_reason.empty()) {
      if (!options.drop_invalid_rows)
        throw UserError(out.invalid_message + " (set drop_invalid_rows: true to skip such rows)");
      ++report.invalid_rows;
      ++report.invalid_by_reason[out.invalid_reason];
      if (report.invalid_examples.size() < kInvalidExamples)
        report.invalid_examples.push_back(out.invalid_message);
      continue;
    }
    if (out.boundary_mismatch && report.boundary_mismatches++ == 0)
      report.first_boundary_mismatch = block[i].where();
    if (out.truncation == TruncationResult::kDropped) {
      ++report.dropped_rows;
      continue;
    }
    if (out.identical_pair && report.identical_pairs++ == 0)
      report.first_identical_pair = block[i].where();
    report.truncated_rows += out.truncation == TruncationResult::kTruncated;
    ++report.kept_rows;
    kept.push_back(std::move(out.example));
  }
}

template <typename Kind>
std::vector<typename Kind::Example> read_examples(const std::vector<std::string>& specs,
                                                  const DataOptions& options,
                                                  const TextEncoder& encoder,
                                                  const ChatRenderer* renderer,
                                                  DataReport& report) {
  report = DataReport();
  report.source = join(specs, ", ");
  report.format = parse_dataset_format(options.dataset_format);
  Kind::check_format(report.format);
  TruncationOptions truncation = truncation_options(options);
  RowReader reader(specs);
  std::vector<typename Kind::Example> kept;
  std::vector<RawRow> block;
  RawRow row;
  int64_t rows_read = 0;
  bool more = true;
  while (more) {
    block.clear();
    while (block.size() < kBlockRows) {
      if ((options.max_rows > 0 && rows_read >= options.max_rows) || !reader.next(row)) {
        more = false;
        break;
      }
      ++rows_read;
      block.push_back(std::move(row));
    }
    process_block<Kind>(block, options, truncation, encoder, renderer, report, kept);
  }
  if (report.boundary_mismatches > 0) log_warn("{}", boundary_mismatch_warning(report));
  if (report.identical_pairs > 0) log_warn("{}", identical_pairs_warning(report));
  if (report.kept_rows == 0)
    throw_user_error("{}: no usable rows ({} read, {} invalid, {} dropped by max_length {})",
                     report.source, report.rows, report.invalid_rows, report.dropped_rows,
                     options.max_length);
  return kept;
}

template <typename Kind, typename Data>
Data load_data(const DataOptions& options, const TextEncoder& encoder,
               const ChatRenderer* renderer) {
  Data data;
  auto all = read_examples<Kind>(options.dataset, options, encoder, renderer, data.train_report);
  if (!options.eval_dataset.empty()) {
    data.train = std::move(all);
    data.eval =
        read_examples<Kind>(options.eval_dataset, options, encoder, renderer, data.eval_report);
  } else if (options.eval_split_ratio > 0) {
    if (options.eval_split_ratio >= 1)
      throw_user_error("eval_split_ratio: expected a value in [0, 1), got {}",
                       options.eval_split_ratio);
    split_train_eval(all, options.eval_split_ratio, options.seed, data.train, data.eval);
  } else {
    data.train = std::move(all);
  }
  if (options.eval_max_samples > 0 &&
      static_cast<int64_t>(data.eval.size()) > options.eval_max_samples)
    data.eval.resize(static_cast<size_t>(options.eval_max_samples));
  log_info("train data: {}", data.train_report.summary());
  if (!options.eval_dataset.empty()) log_info("eval data: {}", data.eval_report.summary());
  return data;
}

}  // namespace

std::string boundary_mismatch_warning(const DataReport& report) {
  return fmt::format(
      "{}: {} row{} where the prompt/completion boundary falls inside a token (the prompt's "
      "tokens are not a prefix of prompt + completion's: a prompt ending mid-word or in "
      "whitespace), first at {}; split where the tokens stop agreeing, as TRL 1.16 does: the "
      "prompt loses its last token(s) and each sequence is exactly the jointly tokenized prompt + "
      "completion",
      report.source, report.boundary_mismatches, report.boundary_mismatches == 1 ? "" : "s",
      report.first_boundary_mismatch);
}

std::string identical_pairs_warning(const DataReport& report) {
  return fmt::format(
      "{}: {} pair{} whose chosen and rejected tokens are identical (as given or after "
      "truncation), first at {}; their loss is constant, so they train nothing (check the data, "
      "or raise max_length)",
      report.source, report.identical_pairs, report.identical_pairs == 1 ? "" : "s",
      report.first_identical_pair);
}

std::string DataReport::summary() const {
  std::string out = fmt::format("{}: {} format: {}\n", source,
                                format_detected ? "detected" : "given", format_description(format));
  out +=
      fmt::format("  rows {}, kept {}, invalid {}, truncated {}, dropped (prompt >= max_length) {}",
                  rows, kept_rows, invalid_rows, truncated_rows, dropped_rows);
  for (const auto& [reason, count] : invalid_by_reason)
    out += fmt::format("\n  invalid: {} x {}", count, reason);
  for (const std::string& message : invalid_examples) out += "\n    e.g. " + message;
  return out;
}

template <typename Example>
void split_train_eval(std::vector<Example>& all, double ratio, uint64_t seed,
                      std::vector<Example>& train, std::vector<Example>& eval) {
  const int64_t n = static_cast<int64_t>(all.size());
  int64_t eval_count = static_cast<int64_t>(static_cast<double>(n) * ratio + 0.5);
  if (ratio > 0 && eval_count == 0 && n > 1) eval_count = 1;
  std::vector<char> in_eval(all.size(), 0);
  std::vector<int64_t> order = permutation(n, seed);
  for (int64_t i = 0; i < eval_count; ++i)
    in_eval[static_cast<size_t>(order[static_cast<size_t>(i)])] = 1;
  train.clear();
  eval.clear();
  for (size_t i = 0; i < all.size(); ++i) (in_eval[i] ? eval : train).push_back(std::move(all[i]));
  all.clear();
}

template void split_train_eval(std::vector<PreferenceExample>&, double, uint64_t,
                               std::vector<PreferenceExample>&, std::vector<PreferenceExample>&);
template void split_train_eval(std::vector<SftExample>&, double, uint64_t, std::vector<SftExample>&,
                               std::vector<SftExample>&);
template void split_train_eval(std::vector<UnpairedExample>&, double, uint64_t,
                               std::vector<UnpairedExample>&, std::vector<UnpairedExample>&);

std::vector<UnpairedExample> unpair_preference_examples(std::vector<PreferenceExample> pairs) {
  constexpr size_t kMapBatch = 1000;  // datasets' map(batched=True) default batch size
  std::vector<UnpairedExample> out;
  out.reserve(2 * pairs.size());
  for (size_t begin = 0; begin < pairs.size(); begin += kMapBatch) {
    const size_t end = std::min(pairs.size(), begin + kMapBatch);
    for (bool label : {true, false})
      for (size_t i = begin; i < end; ++i) {
        const PreferenceExample& pair = pairs[i];
        out.push_back({pair.prompt_ids, label ? pair.chosen_ids : pair.rejected_ids, label,
                       static_cast<int64_t>(out.size())});
      }
  }
  return out;
}

namespace {

// Whether the first readable object row of `specs` has a label (the unpaired format).
bool first_row_has_label(const std::vector<std::string>& specs) {
  RowReader reader(specs);
  RawRow row;
  while (reader.next(row))
    if (row.ok() && row.value.is_object()) return row.value.contains("label");
  return false;
}

}  // namespace

std::vector<UnpairedExample> read_unpaired_examples(const std::vector<std::string>& specs,
                                                    const DataOptions& options,
                                                    const TextEncoder& encoder,
                                                    const ChatRenderer* renderer,
                                                    DataReport& report) {
  return read_examples<UnpairedKind>(specs, options, encoder, renderer, report);
}

bool is_unpaired_dataset(const DataOptions& options) {
  const DatasetFormat format = parse_dataset_format(options.dataset_format);
  if (format != DatasetFormat::kAuto) return format == DatasetFormat::kUnpaired;
  return first_row_has_label(options.dataset);
}

UnpairedData load_unpaired_data(const DataOptions& options, const TextEncoder& encoder,
                                const ChatRenderer* renderer) {
  DatasetFormat format = parse_dataset_format(options.dataset_format);
  if (is_unpaired_dataset(options)) format = DatasetFormat::kUnpaired;
  if (format == DatasetFormat::kUnpaired)
    return load_data<UnpairedKind, UnpairedData>(options, encoder, renderer);
  if (format != DatasetFormat::kAuto && !is_preference_format(format))
    throw_user_error(
        "dataset_format: '{}' is an SFT format, but KTO needs unpaired rows (prompt, completion, "
        "label) or preference pairs (expected one of: auto, unpaired, standard, conversational, "
        "implicit, hh, pretokenized)",
        format_name(format));
  PreferenceData pairs = load_data<PreferenceKind, PreferenceData>(options, encoder, renderer);
  UnpairedData out;
  out.from_pairs = true;
  out.train = unpair_preference_examples(std::move(pairs.train));
  out.eval = unpair_preference_examples(std::move(pairs.eval));
  out.train_report = std::move(pairs.train_report);
  out.eval_report = std::move(pairs.eval_report);
  log_info(
      "KTO: the preference pairs unpaired into {} train and {} eval examples (chosen "
      "desirable, rejected undesirable, as TRL's unpair_preference_dataset)",
      out.train.size(), out.eval.size());
  return out;
}

std::vector<PreferenceExample> read_preference_examples(const std::vector<std::string>& specs,
                                                        const DataOptions& options,
                                                        const TextEncoder& encoder,
                                                        const ChatRenderer* renderer,
                                                        DataReport& report) {
  return read_examples<PreferenceKind>(specs, options, encoder, renderer, report);
}

std::vector<SftExample> read_sft_examples(const std::vector<std::string>& specs,
                                          const DataOptions& options, const TextEncoder& encoder,
                                          const ChatRenderer* renderer, DataReport& report) {
  return read_examples<SftKind>(specs, options, encoder, renderer, report);
}

PreferenceData load_preference_data(const DataOptions& options, const TextEncoder& encoder,
                                    const ChatRenderer* renderer) {
  return load_data<PreferenceKind, PreferenceData>(options, encoder, renderer);
}

SftData load_sft_data(const DataOptions& options, const TextEncoder& encoder,
                      const ChatRenderer* renderer) {
  return load_data<SftKind, SftData>(options, encoder, renderer);
}

}  // namespace dpo
