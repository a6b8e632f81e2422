#include "train/generations.h"

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "model/generate.h"
#include "report/generations.h"

namespace dpo {

std::string answer_prompt(const PromptAnswerer& answerer, const std::string& prompt) {
  TokenIds prompt_ids;
  if (answerer.chat_template) {
    // ordered: a template iterating a message sees role before content, as in Python
    nlohmann::ordered_json messages =
        nlohmann::ordered_json::array({{{"role", "user"}, {"content", prompt}}});
    std::string text = answerer.chat_template->apply(
        messages, /*add_generation_prompt=*/true, answerer.tokenizer->bos_token(),
        answerer.tokenizer->eos_token(), nlohmann::ordered_json::object());
    prompt_ids = answerer.tokenizer->encode(text, /*add_special_tokens=*/false);
  } else {
    prompt_ids = answerer.tokenizer->encode(prompt, /*add_special_tokens=*/true);
  }
  GenerationOptions options;
  options.max_new_tokens = answerer.max_new_tokens;
  for (int64_t id : answerer.model->config().eos_token_ids) options.stop_ids.push_back(id);
  if (auto eos = answerer.tokenizer->eos_id()) options.stop_ids.push_back(*eos);
  at::NoGradGuard no_grad;
  std::vector<int64_t> ids(prompt_ids.begin(), prompt_ids.end());
  std::vector<int64_t> generated = generate(*answerer.model, ids, options);
  TokenIds out(generated.begin(), generated.end());
  return answerer.tokenizer->decode(out, /*skip_special_tokens=*/true);
}

void write_generations(const PromptAnswerer& answerer, const std::vector<std::string>& prompts,
                       const std::string& phase, int64_t step,
                       const std::filesystem::path& output_dir) {
  for (const auto& prompt : prompts) {
    report::Generation generation;
    generation.phase = phase;
    generation.prompt = prompt;
    generation.completion = answer_prompt(answerer, prompt);
    generation.step = step;
    report::append_generation(output_dir, generation);
  }
}

}  // namespace dpo
