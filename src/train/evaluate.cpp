#include "train/evaluate.h"

#include <chrono>

#include "data/batch.h"
#include "train/metrics.h"

namespace dpo {
namespace {

template <typename Example>
std::vector<Example> slice(const std::vector<Example>& all, int64_t begin, int64_t end) {
  return std::vector<Example>(all.begin() + begin, all.begin() + end);
}

}  // namespace

std::map<std::string, double> evaluate(const LossSetup& setup, const EvalData& data) {
  auto start = std::chrono::steady_clock::now();
  at::NoGradGuard no_grad;
  const int64_t total = data.preference ? static_cast<int64_t>(data.preference->size())
                                        : static_cast<int64_t>(data.sft->size());
  MetricAverager averager;
  int64_t batches = 0;
  for (int64_t begin = 0; begin < total; begin += data.batch_size) {
    const int64_t end = std::min(total, begin + data.batch_size);
    BatchResult result;
    if (data.preference) {
      TokenBatch batch =
          to_device(make_preference_batch(slice(*data.preference, begin, end), data.layout,
                                          data.pad_token_id, data.max_row_tokens),
                    data.device);
      ReferenceLogps reference;
      if (data.reference) {
        std::vector<int64_t> positions;
        for (int64_t i = begin; i < end; ++i) positions.push_back(i);
        RefLogpsTable rows = gather_ref_logps(*data.reference, positions);
        reference = {rows.chosen, rows.rejected};
      }
      result = preference_batch_loss(setup, batch, data.reference ? &reference : nullptr);
    } else {
      TokenBatch batch = to_device(make_sft_batch(slice(*data.sft, begin, end), data.layout,
                                                  data.pad_token_id, data.max_row_tokens),
                                   data.device);
      result = sft_batch_loss(setup, batch, 0.0);
    }
    result.metrics["loss"] = result.loss_value;
    averager.add(result.metrics);
    ++batches;
  }
  std::map<std::string, double> metrics = averager.mean("eval_");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics["eval_runtime"] = seconds;
  metrics["eval_samples_per_second"] = seconds > 0 ? total / seconds : 0.0;
  metrics["eval_steps_per_second"] = seconds > 0 ? batches / seconds : 0.0;
  return metrics;
}

}  // namespace dpo
