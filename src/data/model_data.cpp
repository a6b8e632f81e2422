#include "data/model_data.h"

#include <filesystem>

#include "util/error.h"
#include "util/fs.h"

namespace dpo {

std::optional<ChatTemplate> resolve_chat_template(const std::string& choice,
                                                  const Tokenizer& tokenizer) {
  if (choice.empty() || choice == "auto") {
    if (tokenizer.chat_template().empty()) return std::nullopt;
    return ChatTemplate(tokenizer.chat_template());
  }
  if (is_builtin_chat_template(choice)) return ChatTemplate(builtin_chat_template(choice));
  if (std::filesystem::is_regular_file(choice)) return ChatTemplate(read_file(choice));
  throw_user_error(
      "chat_template: '{}' is neither a file nor a built-in template (expected auto, "
      "llama-2, zephyr, chatml, llama-3 or the path of a Jinja file)",
      choice);
}

ModelText::ModelText(const Tokenizer& tokenizer, const std::string& chat_template_choice)
    : encoder(make_text_encoder(tokenizer)) {
  std::optional<ChatTemplate> resolved = resolve_chat_template(chat_template_choice, tokenizer);
  if (resolved) {
    chat_template = std::make_unique<ChatTemplate>(std::move(*resolved));
    renderer = make_chat_renderer(*chat_template, tokenizer);
  }
}

PreferenceData load_preference_data(const DataOptions& options, const Tokenizer& tokenizer) {
  ModelText text(tokenizer, options.chat_template);
  return load_preference_data(options, text.encoder, text.renderer_or_null());
}

SftData load_sft_data(const DataOptions& options, const Tokenizer& tokenizer) {
  ModelText text(tokenizer, options.chat_template);
  return load_sft_data(options, text.encoder, text.renderer_or_null());
}

}  // namespace dpo
