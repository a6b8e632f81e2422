#include "train/batcher.h"

namespace dpo {
namespace {

template <typename Example>
std::vector<Example> pick(const std::vector<Example>& all, const std::vector<int64_t>& positions) {
  std::vector<Example> picked;
  picked.reserve(positions.size());
  for (int64_t p : positions) picked.push_back(all[static_cast<size_t>(p)]);
  return picked;
}

BatchLayout preference_layout_for(bool padding_free, bool prompt_sharing) {
  if (!padding_free) return BatchLayout::kPadded;
  return prompt_sharing ? BatchLayout::kPromptSharing : BatchLayout::kPacked;
}

}  // namespace

Batcher::Batcher(const LlamaModel& model, bool padding_free, bool prompt_sharing,
                 int64_t pad_token_id)
    : preference_layout_(preference_layout_for(padding_free, prompt_sharing)),
      sft_layout_(padding_free ? BatchLayout::kPacked : BatchLayout::kPadded),
      preference_width_(RowWidth::for_attention(model.packed_rows_use_varlen_attention(
          preference_layout_ == BatchLayout::kPromptSharing))),
      sft_width_(RowWidth::for_attention(model.packed_rows_use_varlen_attention())),
      pad_token_id_(pad_token_id),
      device_(model.device()) {}

TokenBatch Batcher::preference(const std::vector<PreferenceExample>& pairs) const {
  return to_device(
      make_preference_batch(pairs, preference_layout_, pad_token_id_, preference_width_), device_);
}

TokenBatch Batcher::sft(const std::vector<SftExample>& examples) const {
  return to_device(make_sft_batch(examples, sft_layout_, pad_token_id_, sft_width_), device_);
}

MicroBatch Batcher::preference(const std::vector<PreferenceExample>& all, BatchRows rows) const {
  TokenBatch tokens = preference(pick(all, rows.positions));
  return {std::move(tokens), std::move(rows)};
}

MicroBatch Batcher::sft(const std::vector<SftExample>& all, BatchRows rows) const {
  TokenBatch tokens = sft(pick(all, rows.positions));
  return {std::move(tokens), std::move(rows)};
}

int64_t pad_token_for(const Tokenizer* tokenizer, const ModelConfig& config) {
  if (tokenizer) {
    if (auto pad = tokenizer->pad_id()) return *pad;
    if (auto eos = tokenizer->eos_id()) return *eos;
  }
  if (config.pad_token_id) return *config.pad_token_id;
  if (!config.eos_token_ids.empty()) return config.eos_token_ids.front();
  return 0;
}

}  // namespace dpo
