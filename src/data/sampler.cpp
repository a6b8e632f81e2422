#include "data/sampler.h"

#include <algorithm>
#include <limits>
#include <random>

#include "util/error.h"

namespace dpo {

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::below(uint64_t bound) {
  // Rejection sampling: no modulo bias.
  uint64_t limit = ~uint64_t{0} - (~uint64_t{0} % bound);
  uint64_t value = next();
  while (value >= limit) value = next();
  return value % bound;
}

std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  SplitMix64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)], order[rng.below(static_cast<uint64_t>(i) + 1)]);
  return order;
}

// torch's randperm_cpu: for i in [0, n-1), swap(order[i], order[i + r % (n - i)]), r a 32-bit
// draw of the generator (a 64-bit one, two 32-bit draws high then low, for n >= 2^32 / 20).
// torch's CPU generator is mt19937 seeded with the seed's low 32 bits (Generator.manual_seed).
std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::mt19937 engine(static_cast<uint32_t>(seed & 0xffffffffull));
  const bool small = n < static_cast<int64_t>(std::numeric_limits<uint32_t>::max() / 20);
  for (int64_t i = 0; i + 1 < n; ++i) {
    uint64_t draw = engine();
    if (!small) draw = (draw << 32) | engine();
    const int64_t z = static_cast<int64_t>(draw % static_cast<uint64_t>(n - i));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(z + i)]);
  }
  return order;
}

std::vector<std::vector<int64_t>> epoch_batches(int64_t num_examples, int64_t epoch,
                                                const SamplerOptions& options,
                                                const std::vector<int64_t>& lengths) {
  if (options.batch_size <= 0)
    throw_user_error("batch size must be positive, got {}", options.batch_size);
  std::vector<int64_t> order;
  if (options.shuffle) {
    order = torch_randperm(num_examples, options.seed + static_cast<uint64_t>(epoch));
  } else {
    order = permutation(num_examples, 0);
    std::sort(order.begin(), order.end());
  }
  if (options.group_by_length) {
    DPO_CHECK(static_cast<int64_t>(lengths.size()) == num_examples,
              "group_by_length needs one length per example ({} for {})", lengths.size(),
              num_examples);
    size_t megabatch =
        static_cast<size_t>(options.batch_size * std::max<int64_t>(1, options.megabatch_factor));
    for (size_t begin = 0; begin < order.size(); begin += megabatch) {
      auto first = order.begin() + static_cast<std::ptrdiff_t>(begin);
      auto last =
          order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), begin + megabatch));
      std::stable_sort(first, last, [&](int64_t a, int64_t b) {
        return lengths[static_cast<size_t>(a)] > lengths[static_cast<size_t>(b)];
      });
    }
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(options.batch_size)) {
    size_t end = std::min(order.size(), begin + static_cast<size_t>(options.batch_size));
    if (options.drop_last && end - begin < static_cast<size_t>(options.batch_size)) break;
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(begin),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

std::vector<int64_t> example_lengths(const std::vector<PreferenceExample>& examples) {
  std::vector<int64_t> lengths;
  lengths.reserve(examples.size());
  for (const auto& e : examples)
    lengths.push_back(static_cast<int64_t>(e.prompt_ids.size() +
                                           std::max(e.chosen_ids.size(), e.rejected_ids.size())));
  return lengths;
}

std::vector<int64_t> example_lengths(const std::vector<SftExample>& examples) {
  std::vector<int64_t> lengths;
  lengths.reserve(examples.size());
  for (const auto& e : examples)
    lengths.push_back(static_cast<int64_t>(e.prompt_ids.size() + e.completion_ids.size()));
  return lengths;
}

}  // namespace dpo
