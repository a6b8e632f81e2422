// KTO's examples from unpaired ones (train/kto_data.h), as TRL 1.16's KTOTrainer prepares them.
#include "train/kto_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "data/truncate.h"

namespace dpo {

KtoExamples prepare_kto_examples(std::vector<UnpairedExample> examples,
                                 const KtoDataOptions& options) {
  KtoExamples out;
  std::vector<UnpairedExample> kept;
  for (UnpairedExample& e : examples) {
    if (options.max_length > 0 && static_cast<int64_t>(e.prompt_ids.size()) >= options.max_length)
      ++out.dropped;
    else
      kept.push_back(std::move(e));
  }
  const size_t chunk = static_cast<size_t>(std::max<int64_t>(1, options.kl_chunk_size));
  TruncationOptions cut;
  cut.max_length = options.max_length;
  cut.mode = TruncationMode::kKeepStart;
  for (size_t begin = 0; begin < kept.size(); begin += chunk) {
    const size_t end = std::min(kept.size(), begin + chunk);
    for (size_t i = begin; i < end; ++i) {
      const size_t kl_source = i == begin ? end - 1 : i - 1;
      PreferenceExample pair{kept[i].prompt_ids, kept[i].completion_ids,
                             options.with_kl ? kept[kl_source].completion_ids : TokenIds{},
                             kept[i].index};
      if (truncate_example(pair, cut) == TruncationResult::kTruncated) ++out.truncated;
      out.pairs.push_back(std::move(pair));
      out.desirable.push_back(kept[i].label ? 1 : 0);
    }
  }
  return out;
}

namespace {

// Python's round(x, 2) (correctly rounded from the exact binary value), as TRL's check.
double round2(double x) {
  return std::stod(fmt::format("{:.2f}", x));
}

}  // namespace

std::string kto_balance_warning(const std::vector<uint8_t>& desirable, double desirable_weight,
                                double undesirable_weight) {
  const int64_t total = static_cast<int64_t>(desirable.size());
  const int64_t good = std::count(desirable.begin(), desirable.end(), uint8_t{1});
  std::string warning;
  if (total > 0 && (good == 0 || good == total))
    warning = fmt::format(
        "KTO: every training example is {} (label {}): the loss then only pushes their rewards "
        "{}, with nothing to contrast them with; KTO needs both desirable and undesirable "
        "examples to learn a preference. ",
        good == 0 ? "undesirable" : "desirable", good == 0 ? "false" : "true",
        good == 0 ? "down" : "up");
  // TRL: counts of at least 1, then the ranges of Eq. (8) of the KTO paper.
  const double d = static_cast<double>(std::max<int64_t>(good, 1));
  const double u = static_cast<double>(std::max<int64_t>(total - d, 1));
  if (d != u) {
    const double d_low = round2(u * undesirable_weight / d);
    const double d_high = round2(u * undesirable_weight / d * 1.33);
    const double u_low = round2(d * desirable_weight / u / 1.33);
    const double u_high = round2(d * desirable_weight / u);
    const bool d_ok = d_low <= desirable_weight && desirable_weight <= d_high;
    const bool u_ok = u_low <= undesirable_weight && undesirable_weight <= u_high;
    if (!d_ok && !u_ok)
      warning += fmt::format(
          "KTO: {} desirable and {} undesirable training examples, but neither weight is in the "
          "range that balances them (TRL's check, from Eq. (8) of the KTO paper): set EITHER "
          "desirable_weight in [{}, {}] OR undesirable_weight in [{}, {}] (not both)",
          static_cast<int64_t>(good), total - good, d_low, d_high, u_low, u_high);
  }
  while (!warning.empty() && warning.back() == ' ') warning.pop_back();
  return warning;
}

}  // namespace dpo
