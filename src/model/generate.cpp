#include "model/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "model/kv_cache.h"
#include "util/error.h"

namespace dpo {

std::vector<int64_t> generate(const LlamaModel& model, const std::vector<int64_t>& prompt_ids,
                              const GenerationOptions& options) {
  if (prompt_ids.empty()) throw_user_error("generation needs a non-empty prompt");
  validate(options.sampling);
  at::NoGradGuard no_grad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  auto cache = model.make_cache(static_cast<int64_t>(prompt_ids.size()) +
                                std::max<int64_t>(options.max_new_tokens, 1));
  std::vector<int64_t> output;
  at::Tensor next = at::tensor(prompt_ids, at::kLong).unsqueeze(0);  // (1, t): the prompt first
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    at::Tensor logits = model.forward_step(next.to(model.device()), *cache);  // (1, V)
    int64_t token = choose_token(logits.select(0, 0), options.sampling, generator);
    output.push_back(token);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), token) !=
        options.stop_ids.end())
      break;
    next = at::full({1, 1}, token, at::kLong);
  }
  return output;
}

}  // namespace dpo
