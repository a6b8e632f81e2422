#include "train/data_parallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"
#include "util/strings.h"

namespace dpo {

DataParallel::DataParallel(std::unique_ptr<dist::ProcessGroup> group) : group_(std::move(group)) {}

std::vector<int> balance_by_tokens(const std::vector<int64_t>& tokens, int world,
                                   int64_t per_device) {
  const size_t size = tokens.size();
  DPO_CHECK(world > 0 && size <= static_cast<size_t>(world) * static_cast<size_t>(per_device),
            "balance_by_tokens: {} examples for {} ranks x {}", size, world, per_device);
  std::vector<size_t> longest_first(size);
  std::iota(longest_first.begin(), longest_first.end(), size_t{0});
  std::stable_sort(longest_first.begin(), longest_first.end(),
                   [&](size_t a, size_t b) { return tokens[a] > tokens[b]; });
  std::vector<int64_t> load(static_cast<size_t>(world), 0), count(static_cast<size_t>(world), 0);
  std::vector<int> owner(size);
  for (size_t i : longest_first) {
    int best = -1;
    for (int r = 0; r < world; ++r)
      if (count[static_cast<size_t>(r)] < per_device &&
          (best < 0 || load[static_cast<size_t>(r)] < load[static_cast<size_t>(best)]))
        best = r;
    owner[i] = best;
    load[static_cast<size_t>(best)] += tokens[i];
    ++count[static_cast<size_t>(best)];
  }
  return owner;
}

std::vector<int64_t> DataParallel::shard(const std::vector<int64_t>& global_batch,
                                         int64_t per_device,
                                         const std::vector<int64_t>& tokens) const {
  if (!active()) return global_batch;
  const size_t size = global_batch.size();
  DPO_CHECK(tokens.size() == size, "shard: {} examples, {} token counts", size, tokens.size());
  const std::vector<int> owner = balance_by_tokens(tokens, world_size(), per_device);
  std::vector<int64_t> mine;
  for (size_t i = 0; i < size; ++i)
    if (owner[i] == rank()) mine.push_back(global_batch[i]);
  return mine;
}

std::pair<int64_t, int64_t> DataParallel::share_of(int64_t count) const {
  const int64_t w = world_size(), r = rank();
  return {count * r / w, count * (r + 1) / w};
}

void DataParallel::sum_gradients(const std::vector<at::Tensor>& parameters,
                                 const std::string& what) const {
  if (!active()) return;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& parameter : parameters) {
    at::Tensor& grad = parameter.mutable_grad();
    if (!grad.defined()) grad = at::zeros_like(parameter);  // this rank had no example
    grads.push_back(grad);
  }
  group_->all_reduce_sum(grads, what);
}

double DataParallel::sum(double value, const std::string& what) const {
  if (!active()) return value;
  return group_->sum_values({value}, what)[0];
}

void DataParallel::sum_tensor(at::Tensor& tensor, const std::string& what) const {
  if (active()) group_->all_reduce_sum({tensor}, what);
}

void DataParallel::merge_step(AccumulatedStep& step, int64_t& samples,
                              const std::vector<int64_t>& batch_of, int64_t micro_batches) {
  if (!active()) return;
  // a non-finite local batch left no metrics (the step is skipped on every rank anyway)
  const bool aligned = batch_of.size() == step.batch_metrics.size();
  if (metric_names_.empty()) {  // rank 0 always has the first micro-batch's first examples
    std::string names;
    if (is_main() && !step.batch_metrics.empty())
      for (const auto& [name, value] : step.batch_metrics[0]) names += name + "\n";
    names = group_->broadcast_from_main(names, "agreeing on the metric names");
    metric_names_ = split(names, '\n');
    metric_names_.erase(std::remove(metric_names_.begin(), metric_names_.end(), std::string()),
                        metric_names_.end());
  }
  const size_t k = metric_names_.size();
  // [loss, tokens, positions, real, shared, samples, non-finite, TRL's positions], then per
  // global micro-batch and metric: weight x value, weight
  constexpr size_t kHead = 8;
  std::vector<double> values(kHead + static_cast<size_t>(micro_batches) * k * 2, 0.0);
  values[0] = step.loss;
  values[1] = static_cast<double>(step.tokens);
  values[2] = static_cast<double>(step.positions);
  values[3] = static_cast<double>(step.real_positions);
  values[4] = static_cast<double>(step.shared_positions);
  values[5] = static_cast<double>(samples);
  values[6] = step.finite ? 0.0 : 1.0;
  values[7] = static_cast<double>(step.trl_input_positions);
  for (size_t i = 0; aligned && i < batch_of.size(); ++i) {
    const auto& metrics = step.batch_metrics[i];
    const auto& weights = step.batch_metric_weights[i];
    for (size_t m = 0; m < k; ++m) {
      const auto value = metrics.find(metric_names_[m]);
      if (value == metrics.end()) continue;
      const auto weight = weights.find(metric_names_[m]);
      const double w = weight == weights.end() ? 1.0 : weight->second;
      const size_t at = kHead + (static_cast<size_t>(batch_of[i]) * k + m) * 2;
      values[at] += w * value->second;
      values[at + 1] += w;
    }
  }
  values = group_->sum_values(std::move(values), "summing the step over the ranks");
  step.loss = values[0];
  step.tokens = static_cast<int64_t>(std::llround(values[1]));
  step.positions = static_cast<int64_t>(std::llround(values[2]));
  step.real_positions = static_cast<int64_t>(std::llround(values[3]));
  step.shared_positions = static_cast<int64_t>(std::llround(values[4]));
  samples = static_cast<int64_t>(std::llround(values[5]));
  step.finite = values[6] == 0.0;
  step.trl_input_positions = static_cast<int64_t>(std::llround(values[7]));
  std::vector<std::map<std::string, double>> merged(static_cast<size_t>(micro_batches));
  for (size_t j = 0; j < merged.size(); ++j)
    for (size_t m = 0; m < k; ++m) {
      const size_t at = kHead + (j * k + m) * 2;
      // no denominator on any rank (a ratio over no tokens): 0, as TRL's ratios
      merged[j][metric_names_[m]] = values[at + 1] > 0 ? values[at] / values[at + 1] : 0.0;
    }
  step.batch_metrics = std::move(merged);
  step.batch_metric_weights.clear();  // merged: the weights were spent
}

int DataParallel::agree_on_stop(int local_signal) const {
  if (!active()) return local_signal;
  const std::vector<std::vector<double>> signals =
      group_->all_gather({static_cast<double>(local_signal)}, "agreeing on a stop request");
  int signal = 0;
  for (const auto& row : signals) signal = std::max(signal, static_cast<int>(row[0]));
  return signal;
}

std::vector<std::string> DataParallel::gather_bytes(const std::string& bytes,
                                                    const std::string& what) const {
  if (!active()) return {bytes};
  double longest = 0;
  for (const auto& row : group_->all_gather({static_cast<double>(bytes.size())}, what))
    longest = std::max(longest, row[0]);
  std::vector<double> padded(static_cast<size_t>(longest) + 1, 0.0);  // [length, bytes...]
  padded[0] = static_cast<double>(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i)
    padded[i + 1] = static_cast<double>(static_cast<unsigned char>(bytes[i]));
  std::vector<std::string> out;
  for (const auto& row : group_->all_gather(padded, what)) {
    std::string text(static_cast<size_t>(row[0]), '\0');
    for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(row[i + 1]);
    out.push_back(std::move(text));
  }
  return out;
}

void DataParallel::barrier(const std::string& what) const {
  if (active()) group_->barrier(what);
}

}  // namespace dpo
