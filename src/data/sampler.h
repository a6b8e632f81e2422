// Which examples go into which batch, epoch by epoch, from a seed alone (plain C++).
// The epoch order is the one transformers' Trainer gives (accelerate's SeedableRandomSampler):
// torch.randperm(n) from a CPU generator seeded with seed + epoch, rebuilt here from std::mt19937
// (the engine torch's CPU generator is, fully specified by the C++ standard), so a run moved over
// from TRL visits the rows in the same order. Other seeded draws (the eval split) use splitmix64
// with our own bounded draws and Fisher-Yates shuffle: the same on every platform.
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

// A random permutation of 0..n-1 (splitmix64).
std::vector<int64_t> permutation(int64_t n, uint64_t seed);

// torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU, exactly.
std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed);

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

// The batches (lists of example positions) of one epoch, consecutive chunks of the epoch's order
// (the short last one kept unless drop_last). `lengths` (one per example) is needed only with
// group_by_length. Epoch e shuffles with torch_randperm(n, seed + e), as transformers' Trainer.
std::vector<std::vector<int64_t>> epoch_batches(int64_t num_examples, int64_t epoch,
                                                const SamplerOptions& options,
                                                const std::vector<int64_t>& lengths = {});

// Tokens of the longest sequence of each example (prompt + longer completion).
std::vector<int64_t> example_lengths(const std::vector<PreferenceExample>& examples);
std::vector<int64_t> example_lengths(const std::vector<SftExample>& examples);

}  // namespace dpo
