// eval_prompts answered with greedy decoding (through the chat template when the tokenizer or
// config has one) and appended to OUTPUT_DIR/generations.jsonl (report/generations.h format).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"

namespace dpo {

struct PromptAnswerer {
  const LlamaModel* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  const ChatTemplate* chat_template = nullptr;  // null: the prompt is encoded as plain text
  int64_t max_new_tokens = 64;
};

// The greedy answer to one prompt (text after the prompt, special tokens skipped).
std::string answer_prompt(const PromptAnswerer& answerer, const std::string& prompt);

// Answers every prompt and appends one line per prompt with `phase` ("before" / "after").
void write_generations(const PromptAnswerer& answerer, const std::vector<std::string>& prompts,
                       const std::string& phase, int64_t step,
                       const std::filesystem::path& output_dir);

}  // namespace dpo
