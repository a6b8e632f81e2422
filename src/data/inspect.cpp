#include "data/inspect.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "data/formats.h"
#include "data/reader.h"
#include "data/truncate.h"

namespace dpo {

namespace {

constexpr const char* kBoundary = "\u27e6\u25b6\u27e7";  // ⟦▶⟧ between prompt and completion

std::string decode(const TextEncoder& encoder, const TokenIds& ids) {
  if (encoder.decode) return encoder.decode(ids);
  return fmt::format("{}", fmt::join(ids, " "));
}

int64_t size_of(const TokenIds& ids) {
  return static_cast<int64_t>(ids.size());
}

// Decodes prompt + completion together (a decoder may drop the leading space of a piece decoded
// alone) and marks where the prompt's text ends.
std::string render_with_boundary(const TextEncoder& encoder, const TokenIds& prompt,
                                 const TokenIds& completion) {
  TokenIds full = prompt;
  full.insert(full.end(), completion.begin(), completion.end());
  std::string whole = decode(encoder, full), head = decode(encoder, prompt);
  if (whole.compare(0, head.size(), head) == 0) return head + kBoundary + whole.substr(head.size());
  return head + kBoundary + decode(encoder, completion);
}

}  // namespace

LengthStats length_stats(std::vector<int64_t> lengths) {
  LengthStats s;
  if (lengths.empty()) return s;
  std::sort(lengths.begin(), lengths.end());
  auto rank = [&](double p) {
    size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(lengths.size())));
    return lengths[std::min(lengths.size(), std::max<size_t>(k, 1)) - 1];
  };
  s.p50 = rank(50);
  s.p90 = rank(90);
  s.p99 = rank(99);
  s.max = lengths.back();
  return s;
}

TextEncoder byte_encoder() {
  TextEncoder e;
  e.encode = [](const std::string& text, bool) {
    TokenIds ids;
    ids.reserve(text.size());
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  };
  e.decode = [](const TokenIds& ids) {
    std::string text;
    for (TokenId id : ids) text.push_back(static_cast<char>(id));
    return text;
  };
  return e;
}

ChatRenderer plain_chat_renderer() {
  return [](const RowJson& messages, bool add_generation_prompt) {
    std::string out;
    for (const auto& m : messages)
      out += m["role"].get<std::string>() + ": " + m["content"].get<std::string>() + "\n";
    if (add_generation_prompt) out += "assistant: ";
    return out;
  };
}

namespace {

TruncationOptions truncation_of(const DataOptions& options) {
  TruncationOptions truncation;
  truncation.max_length = options.max_length;
  truncation.max_prompt_length = options.max_prompt_length;
  truncation.max_completion_length = options.max_completion_length;
  truncation.mode = parse_truncation_mode(options.truncation_mode);
  return truncation;
}

// Reads every row with no truncation (for the lengths), then counts what the truncation options
// would truncate or drop, and keeps the report's counts consistent with that.
template <typename Example>
std::vector<Example> read_for_inspection(
    const DataOptions& options, InspectResult& result,
    const std::function<std::vector<Example>(const DataOptions&, DataReport&)>& read) {
  DataOptions reading = options;
  reading.drop_invalid_rows = true;
  reading.max_length = 0;
  reading.max_prompt_length = 0;
  reading.max_completion_length = 0;
  std::vector<Example> examples = read(reading, result.report);
  const TruncationOptions truncation = truncation_of(options);
  for (const Example& e : examples) {
    Example copy = e;
    TruncationResult r = truncate_example(copy, truncation);
    result.truncated_rows += r == TruncationResult::kTruncated;
    result.dropped_rows += r == TruncationResult::kDropped;
  }
  result.report.truncated_rows = result.truncated_rows;
  result.report.dropped_rows = result.dropped_rows;
  result.report.kept_rows -= result.dropped_rows;
  result.length_unit = "tokens";
  result.max_length = options.max_length;
  result.truncation_mode = options.truncation_mode;
  return examples;
}

}  // namespace

InspectResult inspect_preference_data(const DataOptions& options, const TextEncoder& encoder,
                                      const ChatRenderer* renderer, int num_examples) {
  InspectResult result;
  std::vector<PreferenceExample> examples = read_for_inspection<PreferenceExample>(
      options, result, [&](const DataOptions& reading, DataReport& report) {
        return read_preference_examples(options.dataset, reading, encoder, renderer, report);
      });
  std::vector<int64_t> prompt, chosen, rejected;
  for (const PreferenceExample& e : examples) {
    prompt.push_back(size_of(e.prompt_ids));
    chosen.push_back(size_of(e.chosen_ids));
    rejected.push_back(size_of(e.rejected_ids));
  }
  result.prompt = length_stats(prompt);
  result.chosen = length_stats(chosen);
  result.rejected = length_stats(rejected);
  for (int i = 0; i < num_examples && i < static_cast<int>(examples.size()); ++i) {
    const PreferenceExample& e = examples[static_cast<size_t>(i)];
    result.examples.push_back(render_with_boundary(encoder, e.prompt_ids, e.chosen_ids));
    result.rejected_examples.push_back(render_with_boundary(encoder, e.prompt_ids, e.rejected_ids));
  }
  return result;
}

InspectResult inspect_sft_data(const DataOptions& options, const TextEncoder& encoder,
                               const ChatRenderer* renderer, int num_examples) {
  InspectResult result;
  result.sft = true;
  std::vector<SftExample> examples = read_for_inspection<SftExample>(
      options, result, [&](const DataOptions& reading, DataReport& report) {
        return read_sft_examples(options.dataset, reading, encoder, renderer, report);
      });
  std::vector<int64_t> prompt, completion;
  for (const SftExample& e : examples) {
    prompt.push_back(size_of(e.prompt_ids));
    completion.push_back(size_of(e.completion_ids));
  }
  result.prompt = length_stats(prompt);
  result.chosen = length_stats(completion);
  for (int i = 0; i < num_examples && i < static_cast<int>(examples.size()); ++i) {
    const SftExample& e = examples[static_cast<size_t>(i)];
    result.examples.push_back(render_with_boundary(encoder, e.prompt_ids, e.completion_ids));
  }
  return result;
}

InspectResult inspect_unpaired_data(const DataOptions& options, const TextEncoder& encoder,
                                    const ChatRenderer* renderer, int num_examples) {
  InspectResult result;
  result.sft = true;
  result.unpaired = true;
  std::vector<UnpairedExample> examples = read_for_inspection<UnpairedExample>(
      options, result, [&](const DataOptions& reading, DataReport& report) {
        return read_unpaired_examples(options.dataset, reading, encoder, renderer, report);
      });
  std::vector<int64_t> prompt, completion;
  for (const UnpairedExample& e : examples) {
    prompt.push_back(size_of(e.prompt_ids));
    completion.push_back(size_of(e.completion_ids));
    (e.label ? result.desirable : result.undesirable) += 1;
  }
  result.prompt = length_stats(prompt);
  result.chosen = length_stats(completion);
  for (int i = 0; i < num_examples && i < static_cast<int>(examples.size()); ++i) {
    const UnpairedExample& e = examples[static_cast<size_t>(i)];
    result.examples.push_back(render_with_boundary(encoder, e.prompt_ids, e.completion_ids));
  }
  return result;
}

bool is_sft_dataset(const DataOptions& options) {
  const DatasetFormat format = parse_dataset_format(options.dataset_format);
  if (format != DatasetFormat::kAuto) return !is_preference_format(format);
  RowReader reader(options.dataset);
  RawRow row;
  while (reader.next(row)) {
    if (!row.ok() || !row.value.is_object()) continue;
    const RowJson& v = row.value;
    if (v.contains("chosen") || v.contains("rejected") || v.contains("chosen_ids")) return false;
    return v.contains("messages") || v.contains("completion") || v.contains("text");
  }
  return false;
}

std::string inspect_text(const InspectResult& r) {
  std::string out = r.report.summary() + "\n";
  auto row = [&](const char* name, const LengthStats& s) {
    return fmt::format("  {:<9} {:>7} {:>7} {:>7} {:>7}\n", name, s.p50, s.p90, s.p99, s.max);
  };
  out += fmt::format("lengths ({}):\n  {:<9} {:>7} {:>7} {:>7} {:>7}\n", r.length_unit, "", "p50",
                     "p90", "p99", "max");
  if (r.sft) {
    out += row("prompt", r.prompt) + row("completion", r.chosen);
  } else {
    out += row("prompt", r.prompt) + row("chosen", r.chosen) + row("rejected", r.rejected);
  }
  auto rows = [](int64_t n) { return fmt::format("{} row{}", n, n == 1 ? "" : "s"); };
  out += fmt::format(
      "with max_length {} ({}): {} truncated, {} dropped (prompt alone >= max_length)\n",
      r.max_length, r.truncation_mode, rows(r.truncated_rows), rows(r.dropped_rows));
  if (r.unpaired)
    out += fmt::format("labels: {} desirable (true), {} undesirable (false)\n", r.desirable,
                       r.undesirable);
  if (!r.sft)
    out += fmt::format("identical chosen and rejected: {}{}\n", rows(r.report.identical_pairs),
                       r.report.identical_pairs > 0
                           ? " (first at " + r.report.first_identical_pair + "; they train nothing)"
                           : "");
  if (r.report.boundary_mismatches > 0)
    out += fmt::format("prompt/completion boundary inside a token: {} (first at {})\n",
                       rows(r.report.boundary_mismatches), r.report.first_boundary_mismatch);
  for (size_t i = 0; i < r.examples.size(); ++i) {
    if (r.sft) {
      out += fmt::format("\nexample {} (prompt {} completion):\n{}\n", i + 1, kBoundary,
                         r.examples[i]);
      continue;
    }
    out += fmt::format("\nexample {} (prompt {} chosen):\n{}\n", i + 1, kBoundary, r.examples[i]);
    out += fmt::format("example {} (prompt {} rejected):\n{}\n", i + 1, kBoundary,
                       r.rejected_examples[i]);
  }
  return out;
}

nlohmann::ordered_json inspect_json(const InspectResult& r) {
  auto stats = [](const LengthStats& s) {
    return nlohmann::ordered_json{{"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"max", s.max}};
  };
  nlohmann::ordered_json j;
  j["format"] = format_name(r.report.format);
  j["format_description"] = format_description(r.report.format);
  j["format_detected"] = r.report.format_detected;
  j["rows"] = r.report.rows;
  j["kept_rows"] = r.report.kept_rows;
  j["invalid_rows"] = r.report.invalid_rows;
  j["invalid_by_reason"] = r.report.invalid_by_reason;
  j["max_length"] = r.max_length;
  j["truncation_mode"] = r.truncation_mode;
  j["truncated_rows"] = r.truncated_rows;
  j["dropped_rows"] = r.dropped_rows;
  if (!r.sft) j["identical_pairs"] = r.report.identical_pairs;
  j["boundary_mismatches"] = r.report.boundary_mismatches;
  j["length_unit"] = r.length_unit;
  if (r.sft)
    j["lengths"] = {{"prompt", stats(r.prompt)}, {"completion", stats(r.chosen)}};
  else
    j["lengths"] = {
        {"prompt", stats(r.prompt)}, {"chosen", stats(r.chosen)}, {"rejected", stats(r.rejected)}};
  if (r.unpaired) {
    j["desirable"] = r.desirable;
    j["undesirable"] = r.undesirable;
  }
  j["examples"] = r.examples;
  return j;
}

}  // namespace dpo
