// AdamW and gradient clipping with torch's arithmetic.
#include "train/optimizer.h"

#include <cmath>
#include <set>

#include "util/error.h"

namespace dpo {

std::vector<ParamGroup> weight_decay_groups(
    const std::vector<std::pair<std::string, at::Tensor>>& params, double weight_decay) {
  ParamGroup decay{{}, weight_decay}, no_decay{{}, 0.0};
  for (const auto& [name, tensor] : params) {
    bool exempt = tensor.dim() <= 1 || name.find("bias") != std::string::npos ||
                  name.find("norm") != std::string::npos;
    (exempt ? no_decay : decay).params.push_back({name, tensor});
  }
  std::vector<ParamGroup> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!no_decay.params.empty()) groups.push_back(std::move(no_decay));
  return groups;
}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : groups_(std::move(groups)), options_(options) {
  std::set<std::string> names;
  for (const auto& group : groups_)
    for (const auto& [name, tensor] : group.params)
      DPO_CHECK(names.insert(name).second, "AdamW: parameter {} given twice", name);
}

void AdamW::step() {
  at::NoGradGuard no_grad;
  const double b1 = options_.beta1, b2 = options_.beta2, lr = options_.lr;
  for (auto& group : groups_) {
    for (auto& [name, param] : group.params) {
      const at::Tensor& grad = param.grad();
      if (!grad.defined()) continue;
      State& s = state_[name];
      if (!s.exp_avg.defined()) {
        s.exp_avg = at::zeros_like(param, at::MemoryFormat::Preserve);
        s.exp_avg_sq = at::zeros_like(param, at::MemoryFormat::Preserve);
      }
      s.step += 1;
      param.mul_(1.0 - lr * group.weight_decay);             // decoupled weight decay
      s.exp_avg.lerp_(grad, 1.0 - b1);                       // m <- b1 m + (1-b1) g
      s.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1.0 - b2);  // v <- b2 v + (1-b2) g^2
      const double bias_correction1 = 1.0 - std::pow(b1, static_cast<double>(s.step));
      const double bias_correction2 = 1.0 - std::pow(b2, static_cast<double>(s.step));
      const double step_size = lr / bias_correction1;
      at::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(options_.eps);
      param.addcdiv_(s.exp_avg, denom, -step_size);  // p <- p - lr m_hat / (sqrt(v_hat) + eps)
    }
  }
}

void AdamW::zero_grad() {
  for (auto& group : groups_)
    for (auto& [name, param] : group.params)
      if (param.grad().defined()) param.mutable_grad() = at::Tensor();
}

std::map<std::string, at::Tensor> AdamW::state_dict() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, s] : state_) {
    out[name + ".exp_avg"] = s.exp_avg.detach().to(at::kCPU).clone();
    out[name + ".exp_avg_sq"] = s.exp_avg_sq.detach().to(at::kCPU).clone();
    out[name + ".step"] = at::scalar_tensor(s.step, at::kLong);
  }
  return out;
}

void AdamW::load_state_dict(const std::map<std::string, at::Tensor>& state,
                            const std::string& source) {
  std::map<std::string, const at::Tensor*> params;
  for (const auto& group : groups_)
    for (const auto& [name, tensor] : group.params) params[name] = &tensor;
  std::map<std::string, State> loaded;
  for (const auto& [key, tensor] : state) {
    size_t dot = key.rfind('.');
    std::string name = dot == std::string::npos ? key : key.substr(0, dot);
    std::string field = dot == std::string::npos ? "" : key.substr(dot + 1);
    auto it = params.find(name);
    if (it == params.end() || (field != "exp_avg" && field != "exp_avg_sq" && field != "step"))
      throw_user_error(
          "{}: optimizer state '{}' belongs to no trainable parameter of this run (different "
          "adapter targets or rank?)",
          source, key);
    const at::Tensor& param = *it->second;
    State& s = loaded[name];
    if (field == "step") {
      if (tensor.numel() != 1) throw_user_error("{}: '{}' must be a scalar", source, key);
      s.step = tensor.to(at::kLong).item<int64_t>();
      continue;
    }
    if (tensor.sizes() != param.sizes())
      throw_user_error("{}: optimizer state '{}' has shape {} but the parameter has {}", source,
                       key, c10::str(tensor.sizes()), c10::str(param.sizes()));
    (field == "exp_avg" ? s.exp_avg : s.exp_avg_sq) =
        tensor.to(param.device(), param.scalar_type(), false, true);
  }
  for (const auto& [name, s] : loaded)
    if (!s.exp_avg.defined() || !s.exp_avg_sq.defined() || s.step <= 0)
      throw_user_error(
          "{}: optimizer state of '{}' is incomplete (needs exp_avg, exp_avg_sq and step >= 1)",
          source, name);
  state_ = std::move(loaded);
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const auto& param : params)
    if (param.grad().defined()) norms.push_back(at::norm(param.grad().to(at::kFloat), 2));
  if (norms.empty()) return 0.0;
  at::Tensor total = at::norm(at::stack(norms), 2);
  if (max_norm > 0) {
    at::Tensor coef = at::clamp_max(max_norm / (total + 1e-6), 1.0);
    for (const auto& param : params)
      if (param.grad().defined()) param.grad().mul_(coef.to(param.grad().scalar_type()));
  }
  return total.item<double>();
}

}  // namespace dpo
