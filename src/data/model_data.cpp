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

void check_tokenizer_fits_model(const Tokenizer& tokenizer, const std::string& tokenizer_dir,
                                int64_t model_vocab_size, const std::string& model_dir) {
  const auto tokenizer_size = static_cast<int64_t>(tokenizer.vocab_size());
  if (model_vocab_size <= 0 || tokenizer_size <= model_vocab_size) return;
  throw_user_error(
      "the tokenizer in {} has token ids up to {}, but the model in {} has vocab_size {} "
      "(config.json): they do not belong together; use the tokenizer the model was trained with",
      tokenizer_dir, tokenizer_size - 1, model_dir, model_vocab_size);
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
