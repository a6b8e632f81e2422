#include "train/evaluate.h"

#include <chrono>
#include <cmath>

#include "train/metrics.h"

namespace dpo {
namespace {

// eval_loss as transformers: each batch's loss repeated once per example, then the mean,
// leaving out the non-finite ones when any is finite (logging_nan_inf_filter).
class SampleWeightedLoss {
 public:
  void add(double loss, int64_t examples) {
    all_.add(loss, examples);
    if (std::isfinite(loss)) finite_.add(loss, examples);
  }
  double mean() const { return finite_.examples > 0 ? finite_.mean() : all_.mean(); }

 private:
  struct Sum {
    double total = 0.0;
    int64_t examples = 0;
    void add(double loss, int64_t n) {
      total += loss * static_cast<double>(n);
      examples += n;
    }
    double mean() const { return examples > 0 ? total / static_cast<double>(examples) : NAN; }
  };
  Sum finite_, all_;
};

}  // namespace

int64_t EvalExamples::size() const {
  return preference ? static_cast<int64_t>(preference->size())
                    : static_cast<int64_t>(sft ? sft->size() : 0);
}

std::map<std::string, double> evaluate(Objective& objective, const Batcher& batcher,
                                       const EvalExamples& examples, int64_t batch_size,
                                       const EvalBatchObserver& observe) {
  const auto start = std::chrono::steady_clock::now();
  at::NoGradGuard no_grad;
  const int64_t total = examples.size();
  MetricAverager averager;
  SampleWeightedLoss loss;
  int64_t batches = 0;
  for (int64_t begin = 0; begin < total; begin += batch_size) {
    BatchRows rows;
    rows.split = Split::kEval;
    for (int64_t i = begin; i < std::min(total, begin + batch_size); ++i)
      rows.positions.push_back(i);
    const int64_t size = static_cast<int64_t>(rows.positions.size());
    MicroBatch batch = examples.preference
                           ? batcher.preference(*examples.preference, std::move(rows))
                           : batcher.sft(*examples.sft, std::move(rows));
    BatchResult result = objective.loss(batch);
    loss.add(result.loss_value, size);
    averager.add(result.metrics);
    ++batches;
    if (observe) observe(batch, result);
  }
  std::map<std::string, double> metrics = averager.mean("eval_");
  metrics["eval_loss"] = loss.mean();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics["eval_runtime"] = seconds;
  metrics["eval_samples_per_second"] = seconds > 0 ? total / seconds : 0.0;
  metrics["eval_steps_per_second"] = seconds > 0 ? batches / seconds : 0.0;
  return metrics;
}

}  // namespace dpo
