#include "data/tokenize.h"

#include <exception>
#include <mutex>
#include <thread>

#include "util/error.h"
#include "util/strings.h"

namespace dpo {

using json = RowJson;

namespace {

// TRL add_eos: the EOS text is appended unless the completion already ends with it.
std::string with_eos(const std::string& completion, const TextEncoder& encoder) {
  if (encoder.eos_token.empty() || ends_with(completion, encoder.eos_token)) return completion;
  return completion + encoder.eos_token;
}

// A prompt already starting with the BOS text gets no second BOS.
bool adds_special_tokens(const std::string& prompt, const TextEncoder& encoder) {
  return encoder.bos_token.empty() || !starts_with(prompt, encoder.bos_token);
}

size_t common_prefix_length(const TokenIds& a, const TokenIds& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// TRL 1.16's split: the completions start where the tokenized prompt and every tokenized
// prompt + completion stop agreeing, which is not always after the prompt (a token that merges
// across the boundary, a template that renders the prompt alone differently). The prompt keeps
// its agreeing tokens, each completion is the rest of its full sequence, so prompt + completion
// is exactly the jointly tokenized text. `mismatch`: the prompt lost tokens.
void split_at_common_prefix(TokenIds& prompt, std::initializer_list<TokenIds*> completions,
                            std::initializer_list<const TokenIds*> fulls, bool& mismatch) {
  size_t prompt_length = prompt.size();
  for (const TokenIds* full : fulls)
    prompt_length = std::min(prompt_length, common_prefix_length(prompt, *full));
  if (prompt_length < prompt.size()) mismatch = true;
  prompt.resize(prompt_length);
  auto full = fulls.begin();
  for (TokenIds* completion : completions) {
    const TokenIds& ids = **full++;
    *completion = TokenIds(ids.begin() + static_cast<std::ptrdiff_t>(prompt_length), ids.end());
  }
}

const ChatRenderer& require_renderer(const ChatRenderer* renderer, const std::string& where) {
  if (!renderer || !*renderer)
    throw_user_error(
        "{}: chat messages need a chat template, and none is set (the tokenizer has "
        "no chat_template; set chat_template to a file or one of llama-2, zephyr, "
        "chatml, llama-3)",
        where);
  return *renderer;
}

json concat(const json& a, const json& b) {
  json out = a;
  for (const json& m : b) out.push_back(m);
  return out;
}

void check_range(const TokenIds& ids, const TextEncoder& encoder, const std::string& where,
                 const char* name) {
  if (encoder.vocab_size == 0) return;
  for (size_t i = 0; i < ids.size(); ++i)
    if (static_cast<size_t>(ids[i]) >= encoder.vocab_size)
      throw InvalidRow("token id out of range",
                       fmt::format("{}: field '{}': token id {} at position {} is out of range "
                                   "(expected ids below the vocabulary size {})",
                                   where, name, ids[i], i, encoder.vocab_size));
}

void count_mismatch(bool mismatch, TokenizeStats* stats) {
  if (mismatch && stats) ++stats->boundary_mismatches;
}

}  // namespace

PreferenceExample tokenize_preference_row(const PreferenceRow& row, const TextEncoder& encoder,
                                          const ChatRenderer* renderer, TokenizeStats* stats) {
  PreferenceExample out;
  out.index = row.index;
  bool mismatch = false;
  switch (row.content) {
    case RowContent::kIds:
      check_range(row.prompt_ids, encoder, row.where, "prompt_ids");
      check_range(row.chosen_ids, encoder, row.where, "chosen_ids");
      check_range(row.rejected_ids, encoder, row.where, "rejected_ids");
      out.prompt_ids = row.prompt_ids;
      out.chosen_ids = row.chosen_ids;
      out.rejected_ids = row.rejected_ids;
      break;
    case RowContent::kText: {
      bool special = adds_special_tokens(row.prompt, encoder);
      out.prompt_ids = encoder.encode(row.prompt, special);
      const TokenIds chosen = encoder.encode(row.prompt + with_eos(row.chosen, encoder), special);
      const TokenIds rejected =
          encoder.encode(row.prompt + with_eos(row.rejected, encoder), special);
      split_at_common_prefix(out.prompt_ids, {&out.chosen_ids, &out.rejected_ids},
                             {&chosen, &rejected}, mismatch);
      break;
    }
    case RowContent::kMessages: {
      const ChatRenderer& render = require_renderer(renderer, row.where);
      out.prompt_ids = encoder.encode(render(row.prompt_messages, true), false);
      const TokenIds chosen =
          encoder.encode(render(concat(row.prompt_messages, row.chosen_messages), false), false);
      const TokenIds rejected =
          encoder.encode(render(concat(row.prompt_messages, row.rejected_messages), false), false);
      split_at_common_prefix(out.prompt_ids, {&out.chosen_ids, &out.rejected_ids},
                             {&chosen, &rejected}, mismatch);
      break;
    }
  }
  count_mismatch(mismatch, stats);
  return out;
}

SftExample tokenize_sft_row(const SftRow& row, const TextEncoder& encoder,
                            const ChatRenderer* renderer, TokenizeStats* stats) {
  SftExample out;
  out.index = row.index;
  bool mismatch = false;
  if (row.content == RowContent::kText) {
    if (row.prompt.empty()) {  // text format: every token is scored
      std::string text = with_eos(row.completion, encoder);
      out.completion_ids = encoder.encode(text, adds_special_tokens(text, encoder));
    } else {
      bool special = adds_special_tokens(row.prompt, encoder);
      out.prompt_ids = encoder.encode(row.prompt, special);
      const TokenIds full = encoder.encode(row.prompt + with_eos(row.completion, encoder), special);
      split_at_common_prefix(out.prompt_ids, {&out.completion_ids}, {&full}, mismatch);
    }
  } else {
    const ChatRenderer& render = require_renderer(renderer, row.where);
    if (row.prompt_messages.empty()) {  // messages format
      out.completion_ids = encoder.encode(render(row.completion_messages, false), false);
    } else {
      out.prompt_ids = encoder.encode(render(row.prompt_messages, true), false);
      const TokenIds full = encoder.encode(
          render(concat(row.prompt_messages, row.completion_messages), false), false);
      split_at_common_prefix(out.prompt_ids, {&out.completion_ids}, {&full}, mismatch);
    }
  }
  count_mismatch(mismatch, stats);
  return out;
}

void parallel_for(size_t count, int threads, const std::function<void(size_t)>& work) {
  size_t workers =
      std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), count));
  if (workers <= 1) {
    for (size_t i = 0; i < count; ++i) work(i);
    return;
  }
  std::exception_ptr first_error;
  std::mutex error_mutex;
  std::vector<std::thread> pool;
  size_t block = (count + workers - 1) / workers;
  for (size_t w = 0; w < workers; ++w) {
    size_t begin = w * block, end = std::min(count, begin + block);
    pool.emplace_back([&, begin, end] {
      try {
        for (size_t i = begin; i < end; ++i) work(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace dpo
