// TRL's logged metrics from the loss output and the policy pass statistics.
#include "train/metrics.h"

#include "util/error.h"

namespace dpo {

namespace {

double mean_of(const at::Tensor& values) {
  return values.numel() == 0 ? 0.0 : values.to(at::kDouble).mean().item<double>();
}

double sum_of(const at::Tensor& values) {
  return values.to(at::kDouble).sum().item<double>();
}

// sum(numerator) / sum(denominator), 0 when there is no denominator (as TRL).
double ratio(const at::Tensor& numerator, const at::Tensor& denominator) {
  double total = sum_of(denominator);
  return total > 0 ? sum_of(numerator) / total : 0.0;
}

}  // namespace

std::map<std::string, double> preference_batch_metrics(const LossOutput& loss,
                                                       const PreferenceLogps& logps,
                                                       const SequenceLogProbs& policy,
                                                       int64_t num_pairs) {
  DPO_CHECK(policy.logit_mean_sum.defined(), "preference_batch_metrics needs the token statistics");
  const int64_t p = num_pairs;
  std::map<std::string, double> m;
  m["rewards/chosen"] = mean_of(loss.chosen_rewards);
  m["rewards/rejected"] = mean_of(loss.rejected_rewards);
  m["rewards/accuracies"] = mean_of(loss.chosen_rewards.gt(loss.rejected_rewards));
  m["rewards/margins"] = mean_of(loss.chosen_rewards - loss.rejected_rewards);
  m["logps/chosen"] = mean_of(logps.chosen_logps.detach());
  m["logps/rejected"] = mean_of(logps.rejected_logps.detach());
  m["logits/chosen"] =
      ratio(policy.logit_mean_sum.slice(0, 0, p), policy.num_tokens.slice(0, 0, p));
  m["logits/rejected"] = ratio(policy.logit_mean_sum.slice(0, p), policy.num_tokens.slice(0, p));
  m["entropy"] = ratio(policy.entropy_sum, policy.num_tokens);
  m["mean_token_accuracy"] =
      ratio(policy.correct_tokens.slice(0, 0, p), policy.num_tokens.slice(0, 0, p));
  if (loss.nll.defined()) m["nll_loss"] = loss.nll.item<double>();
  return m;
}

std::map<std::string, double> ref_free_batch_metrics(const RefFreeLossConfig& config,
                                                     const RefFreeLossOutput& loss,
                                                     const at::Tensor& logps,
                                                     const SequenceLogProbs& policy,
                                                     int64_t num_pairs) {
  DPO_CHECK(policy.position_logit_mean_sum.defined(),
            "ref_free_batch_metrics needs the position logit means");
  const int64_t p = num_pairs;
  const at::Tensor& logit_sums = policy.position_logit_mean_sum;  // (S)
  const at::Tensor& positions = policy.num_positions;             // (S)
  std::map<std::string, double> m;
  m["rewards/chosen"] = mean_of(loss.chosen_rewards);
  m["rewards/rejected"] = mean_of(loss.rejected_rewards);
  m["rewards/accuracies"] = mean_of(loss.chosen_rewards.gt(loss.rejected_rewards));
  m["rewards/margins"] = mean_of(loss.chosen_rewards - loss.rejected_rewards);
  m["logps/chosen"] = mean_of(logps.slice(0, 0, p));
  m["logps/rejected"] = mean_of(logps.slice(0, p));
  m["logits/chosen"] = ratio(logit_sums.slice(0, 0, p), positions.slice(0, 0, p));
  m["logits/rejected"] = ratio(logit_sums.slice(0, p), positions.slice(0, p));
  m["nll_loss"] = loss.nll.item<double>();
  if (config.method == RefFreeMethod::kOrpo) {
    m["log_odds_ratio"] = loss.log_odds_ratio.item<double>();
    m["log_odds_chosen"] = loss.log_odds_chosen.item<double>();
  }
  return m;
}

std::map<std::string, double> kto_batch_metrics(const KtoLossOutput& loss, const at::Tensor& logps,
                                                const SequenceLogProbs& policy,
                                                const at::Tensor& desirable, int64_t num_examples) {
  DPO_CHECK(policy.logit_mean_sum.defined(), "kto_batch_metrics needs the token statistics");
  const int64_t b = num_examples;
  at::Tensor good = desirable.to(at::kBool), bad = good.logical_not();  // (B)
  at::Tensor tokens = policy.num_tokens.slice(0, 0, b);                 // (B)
  at::Tensor logit_sums = policy.logit_mean_sum.slice(0, 0, b);         // (B)
  std::map<std::string, double> m;
  m["kl"] = loss.kl.item<double>();
  m["entropy"] = ratio(policy.entropy_sum.slice(0, 0, b), tokens);
  const int64_t goods = good.sum().item<int64_t>(), bads = b - goods;
  auto masked_tokens = [&](const at::Tensor& mask) { return tokens.masked_select(mask); };
  if (masked_tokens(good).sum().item<int64_t>() > 0)
    m["logits/chosen"] = ratio(logit_sums.masked_select(good), masked_tokens(good));
  if (masked_tokens(bad).sum().item<int64_t>() > 0)
    m["logits/rejected"] = ratio(logit_sums.masked_select(bad), masked_tokens(bad));
  if (goods > 0) {
    m["rewards/chosen"] = mean_of(loss.rewards.masked_select(good.to(loss.rewards.device())));
    m["logps/chosen"] = mean_of(logps.masked_select(good.to(logps.device())));
  }
  if (bads > 0) {
    m["rewards/rejected"] = mean_of(loss.rewards.masked_select(bad.to(loss.rewards.device())));
    m["logps/rejected"] = mean_of(logps.masked_select(bad.to(logps.device())));
  }
  if (goods > 0 && bads > 0) m["rewards/margins"] = m["rewards/chosen"] - m["rewards/rejected"];
  return m;
}

std::map<std::string, double> metric_weights(const std::map<std::string, double>& metrics,
                                             double pairs,
                                             const std::map<std::string, double>& per_token) {
  std::map<std::string, double> weights;
  for (const auto& [name, value] : metrics) {
    const auto tokens = per_token.find(name);
    weights[name] = tokens == per_token.end() ? pairs : tokens->second;
  }
  return weights;
}

void MetricAverager::add(const std::map<std::string, double>& batch_metrics) {
  for (const auto& [name, value] : batch_metrics) values_[name].push_back(value);
}

std::map<std::string, double> MetricAverager::mean(const std::string& prefix) const {
  std::map<std::string, double> out;
  for (const auto& [name, list] : values_) {
    if (list.empty()) continue;
    double value = list.back();
    if (name != "num_tokens") {
      double sum = 0;
      for (double v : list) sum += v;
      value = sum / static_cast<double>(list.size());
    }
    out[prefix + name] = value;
  }
  return out;
}

}  // namespace dpo
