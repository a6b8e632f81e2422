// KTO's examples as TRL 1.16's KTOTrainer prepares them (_prepare_dataset and its collator), laid
// out as pairs so that the preference machinery (Batcher, Reference, the reference cache) carries
// them: the "chosen" sequence of pair i is example i's prompt + completion, the "rejected" one its
// prompt + the KL completion (another example's completion: the mismatched pair KTO's KL
// estimate reads). Plain C++, no libtorch.
//   1. examples whose prompt alone has >= max_length tokens are dropped (TRL's filter);
//   2. KL completions: the completions rotated by one inside consecutive chunks of
//      kl_chunk_size (per_device_train_batch_size) examples, in dataset order:
//      (x1, y1) ... (xn, yn) -> KL (x1, yn), (x2, y1), ..., (xn, yn-1);
//   3. each sequence, prompt + completion and prompt + KL completion, is cut to max_length
//      (keep_start), as the collator does.
// Without the KL term (apo_zero_unpaired) the KL completion is empty (the sequence is the prompt).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/examples.h"

namespace dpo {

struct KtoExamples {
  std::vector<PreferenceExample> pairs;  // chosen_ids: the completion; rejected_ids: the KL one
  std::vector<uint8_t> desirable;        // per pair: the example's label
  int64_t dropped = 0;                   // prompt >= max_length
  int64_t truncated = 0;                 // sequences cut to max_length
};

struct KtoDataOptions {
  int64_t max_length = 1024;  // 0: no limit
  int64_t kl_chunk_size = 8;  // per_device_train_batch_size
  bool with_kl = true;
};

KtoExamples prepare_kto_examples(std::vector<UnpairedExample> examples,
                                 const KtoDataOptions& options);

// TRL's warning when the desirable and undesirable examples are not balanced and neither weight
// is in the range the KTO paper's Eq. (8) recommends for the data; "" when none is due. Also a
// warning when every example has the same label (KTO then only pushes one way).
std::string kto_balance_warning(const std::vector<uint8_t>& desirable, double desirable_weight,
                                double undesirable_weight);

}  // namespace dpo
