#include "train/flos.h"

#include <algorithm>

#include "util/error.h"

namespace dpo {

int64_t trl_input_positions(const TokenBatch& batch, bool kto) {
  const std::vector<int64_t>& lengths = batch.sequence_lengths;  // (S)
  DPO_CHECK(!lengths.empty(), "trl_input_positions: a batch without sequence lengths");
  const size_t rows = kto ? static_cast<size_t>(batch.num_pairs) : lengths.size();
  DPO_CHECK(rows > 0 && rows <= lengths.size(), "trl_input_positions: {} rows of {} sequences",
            rows, lengths.size());
  const int64_t longest = *std::max_element(lengths.begin(), lengths.begin() + rows);
  return static_cast<int64_t>(rows) * longest;
}

int64_t non_embedding_parameters(const LlamaModel& model, const LoraModel* lora,
                                 bool reference_adapter) {
  int64_t total = lora ? lora->num_parameters() * (reference_adapter ? 2 : 1) : 0;
  for (const auto& [name, tensor] : model.named_parameters())
    if (name != "model.embed_tokens.weight") total += tensor.numel();
  return total;
}

double floating_point_ops(int64_t input_positions, int64_t parameters) {
  return 6.0 * static_cast<double>(input_positions) * static_cast<double>(parameters);
}

}  // namespace dpo
