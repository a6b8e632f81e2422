// Which examples go into which batch, epoch by epoch, from a seed alone (plain C++).
// The generator is splitmix64 with our own bounded draws and Fisher-Yates shuffle, so the order
// is the same on every platform and standard library.
#pragma once
#include <cstdint>
#include <vector>

#include "data/examples.h"

namespace dpo {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  uint64_t below(uint64_t bound);  // uniform in [0, bound), bound > 0

 private:
  uint64_t state_;
};

// A random permutation of 0..n-1.
std::vector<int64_t> permutation(int64_t n, uint64_t seed);

struct SamplerOptions {
  int64_t batch_size = 8;
  uint64_t seed = 42;
  bool shuffle = true;
  bool drop_last = false;
  // Length-grouped sampling (HF's LengthGroupedSampler): the shuffled order is cut into
  // megabatches of batch_size * megabatch_factor examples, each sorted by length (longest
  // first), so that batches hold similar lengths and padding shrinks.
  bool group_by_length = false;
  int64_t megabatch_factor = 50;
};

// The batches (lists of example positions) of one epoch. `lengths` (one per example) is needed
// only with group_by_length. Epoch e uses seed mixed with e: same seed, same batches.
std::vector<std::vector<int64_t>> epoch_batches(int64_t num_examples, int64_t epoch,
                                                const SamplerOptions& options,
                                                const std::vector<int64_t>& lengths = {});

// Tokens of the longest sequence of each example (prompt + longer completion).
std::vector<int64_t> example_lengths(const std::vector<PreferenceExample>& examples);
std::vector<int64_t> example_lengths(const std::vector<SftExample>& examples);

}  // namespace dpo
