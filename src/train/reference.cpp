#include "train/reference.h"

#include "train/preference.h"
#include "util/error.h"

namespace dpo {

RefLogps gather_rows(const RefLogps& table, const std::vector<int64_t>& positions) {
  at::Tensor index = at::tensor(positions, at::kLong);
  return {table.chosen.index_select(0, index), table.rejected.index_select(0, index)};
}

Reference Reference::adapters_off(const LoraModel* lora) {
  Reference reference;
  reference.lora_ = lora;
  return reference;
}

Reference Reference::frozen_copy(LlamaModel model) {
  Reference reference;
  reference.frozen_.emplace(std::move(model));
  return reference;
}

void Reference::use_tables(RefTables tables) {
  tables_ = std::move(tables);
  frozen_.reset();
}

const LlamaModel& Reference::base_model(const LlamaModel& policy) const {
  return frozen_ ? *frozen_ : policy;
}

RefLogps Reference::logps(const LlamaModel& policy, const TokenBatch& batch,
                          const LogProbOptions& options, const BatchRows& rows) {
  check_preference_batch(batch);
  const int64_t p = batch.num_pairs;
  if (tables_) {
    DPO_CHECK(static_cast<int64_t>(rows.positions.size()) == p,
              "cached reference log-probs need the batch's {} pair positions (got {})", p,
              rows.positions.size());
    return gather_rows(rows.split == Split::kTrain ? tables_->train : tables_->eval,
                       rows.positions);
  }
  LogProbOptions reference_options;  // log-probs only
  reference_options.ld_alpha = options.ld_alpha;
  reference_options.chunk_tokens = options.chunk_tokens;
  at::NoGradGuard no_grad;
  SequenceLogProbs reference;
  if (frozen_) {
    reference = sequence_pass(*frozen_, batch, reference_options);
  } else if (lora_) {
    auto adapters_off = lora_->disabled();
    reference = sequence_pass(policy, batch, reference_options);
  } else {
    reference = sequence_pass(policy, batch, reference_options);
  }
  ++passes_;
  const at::Tensor& logps = reference.loss_logps();  // (2P)
  return {logps.slice(0, 0, p).detach(), logps.slice(0, p).detach()};
}

}  // namespace dpo
