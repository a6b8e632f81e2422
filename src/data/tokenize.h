// Rows -> token ids, by TRL's current rules (trl/trainer/dpo_trainer.py `_prepare_dataset`):
//   text:  completions get the EOS *text* appended when they do not already end with it; then
//          prompt_ids = encode(prompt) with special tokens (BOS), full = encode(prompt +
//          completion) with special tokens.
//   chat:  prompt_ids = render(prompt, add_generation_prompt) tokenized without special tokens
//          (the template holds any BOS), full = render(prompt + completion) likewise,
//          no EOS is added (the template ends turns).
//   both:  the split is TRL 1.16's: at the common prefix of prompt_ids and every full sequence
//          (the prompt keeps those tokens, completion_ids = full[prefix:]).
//   ids:   taken as given (pretokenized).
// One deliberate difference: a text prompt that already starts with the BOS string (a prompt
// rendered with a chat template beforehand) is encoded without special tokens, so the BOS is
// never doubled. When prompt_ids is not a prefix of full (a merge across the boundary) the
// prompt is cut to the common prefix and the row is counted in `boundary_mismatches`.
// Plain C++, no libtorch.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/examples.h"
#include "data/formats.h"

namespace dpo {

class ChatTemplate;

// What tokenization needs from a tokenizer: a small interface so that the rules are testable
// with a toy encoder. make_text_encoder adapts a dpo::Tokenizer.
struct TextEncoder {
  std::function<TokenIds(const std::string& text, bool add_special_tokens)> encode;
  std::string bos_token, eos_token;  // "" when none
  std::optional<TokenId> eos_id;
  size_t vocab_size = 0;  // 0 = unknown (pretokenized ids are not range-checked)
  std::function<std::string(const TokenIds& ids)> decode;  // optional (inspection)
};

// Renders messages with a chat template (add_generation_prompt as given).
using ChatRenderer =
    std::function<std::string(const RowJson& messages, bool add_generation_prompt)>;

// Adapters (header-only, so that code not using them does not need the tokenizer/chat libraries).
TextEncoder make_text_encoder(const Tokenizer& tokenizer);
ChatRenderer make_chat_renderer(const ChatTemplate& chat_template, const Tokenizer& tokenizer);

struct TokenizeStats {
  int64_t boundary_mismatches = 0;  // rows where prompt_ids is not a prefix of prompt+completion
};

// InvalidRow when a chat row meets a missing renderer, or a pretokenized id is out of range.
PreferenceExample tokenize_preference_row(const PreferenceRow& row, const TextEncoder& encoder,
                                          const ChatRenderer* renderer,
                                          TokenizeStats* stats = nullptr);
SftExample tokenize_sft_row(const SftRow& row, const TextEncoder& encoder,
                            const ChatRenderer* renderer, TokenizeStats* stats = nullptr);

// Runs `work(i)` for i in [0, count) on `threads` threads (contiguous blocks; results are written
// by index, so order is kept). The first exception is rethrown after all threads finish.
void parallel_for(size_t count, int threads, const std::function<void(size_t)>& work);

}  // namespace dpo

// ---------------------------------------------------------------- adapters
#include "chat/chat_template.h"

namespace dpo {

inline TextEncoder make_text_encoder(const Tokenizer& tokenizer) {
  TextEncoder encoder;
  encoder.encode = [&tokenizer](const std::string& text, bool add_special) {
    return tokenizer.encode(text, add_special);
  };
  encoder.bos_token = tokenizer.bos_token();
  encoder.eos_token = tokenizer.eos_token();
  encoder.eos_id = tokenizer.eos_id();
  encoder.vocab_size = tokenizer.vocab_size();
  encoder.decode = [&tokenizer](const TokenIds& ids) { return tokenizer.decode(ids, false); };
  return encoder;
}

inline ChatRenderer make_chat_renderer(const ChatTemplate& chat_template,
                                       const Tokenizer& tokenizer) {
  std::string bos = tokenizer.bos_token();
  std::string eos = tokenizer.eos_token();
  return [&chat_template, bos, eos](const RowJson& messages, bool add_generation_prompt) {
    return chat_template.apply(messages, add_generation_prompt, bos, eos, RowJson::object());
  };
}

}  // namespace dpo
