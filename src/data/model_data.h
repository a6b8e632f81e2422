// The pipeline with a model's real tokenizer and chat template (plain C++, no libtorch).
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "chat/chat_template.h"
#include "data/pipeline.h"

namespace dpo {

// `choice`: "auto" = the tokenizer's chat_template (none when it has none), a built-in name
// (llama-2, zephyr, chatml, llama-3), or the path of a template file. UserError naming the
// choice when it is neither.
std::optional<ChatTemplate> resolve_chat_template(const std::string& choice,
                                                  const Tokenizer& tokenizer);

// Encoder and renderer for one tokenizer; keeps the chat template alive for the renderer.
struct ModelText {
  ModelText(const Tokenizer& tokenizer, const std::string& chat_template_choice);
  ModelText(const ModelText&) = delete;
  ModelText& operator=(const ModelText&) = delete;
  TextEncoder encoder;
  std::unique_ptr<ChatTemplate> chat_template;  // null when none
  ChatRenderer renderer;                        // empty when none
  const ChatRenderer* renderer_or_null() const { return renderer ? &renderer : nullptr; }
};

// UserError naming both when the tokenizer's ids (added tokens included) go past the model's
// vocabulary (config.json vocab_size): they do not belong together, and the first such id would
// fail deep inside training or generation.
void check_tokenizer_fits_model(const Tokenizer& tokenizer, const std::string& tokenizer_dir,
                                int64_t model_vocab_size, const std::string& model_dir);

PreferenceData load_preference_data(const DataOptions& options, const Tokenizer& tokenizer);
SftData load_sft_data(const DataOptions& options, const Tokenizer& tokenizer);

}  // namespace dpo
