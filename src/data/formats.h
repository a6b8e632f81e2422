// Row formats: which fields a dataset row has and what they mean (DESIGN.md "Semantics", TRL's
// data utilities). A RawRow becomes a PreferenceRow or SftRow (text, chat messages or token ids),
// or an InvalidRow error naming file:line, the field and what was expected.
// Plain C++, no libtorch.
//
// Preference formats (`dataset_format`):
//   standard       {"prompt": str, "chosen": str, "rejected": str}
//   conversational {"prompt"?: [msg], "chosen": [msg], "rejected": [msg]}; without a prompt the
//                  shared leading messages of chosen and rejected are the prompt (TRL
//                  extract_prompt)
//   implicit       {"chosen": str, "rejected": str}; prompt = common prefix (TRL extract_prompt)
//   hh             Anthropic HH-RLHF {"chosen": str, "rejected": str} of "\n\nHuman:" /
//                  "\n\nAssistant:" turns, split at the last "\n\nAssistant:" (see data/hh.h)
//   pretokenized   {"prompt_ids": [int], "chosen_ids": [int], "rejected_ids": [int]}
// SFT formats: prompt_completion {"prompt", "completion"} (text or messages), messages
// {"messages": [msg]}, text {"text": str}.
// Unpaired preference format (KTO): unpaired {"prompt", "completion", "label": bool} (text or
// messages, as prompt_completion); KTO also takes the preference formats, unpaired as TRL does.
// A message is {"role": "system"|"user"|"assistant"|"tool", "content": str}; after an optional
// leading system message, user and assistant turns alternate (tool messages may follow an
// assistant turn).
#pragma once
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

#include "data/reader.h"
#include "tokenizer/tokenizer.h"

namespace dpo {

enum class DatasetFormat {
  kAuto,
  kStandard,
  kConversational,
  kImplicit,
  kHh,
  kPretokenized,
  kPromptCompletion,  // SFT
  kMessages,          // SFT
  kText,              // SFT
  kUnpaired,          // KTO
};

// "auto", "standard", ... ; UserError listing the names for anything else.
DatasetFormat parse_dataset_format(const std::string& name);
std::string format_name(DatasetFormat format);
// e.g. "hh (chosen/rejected with \n\nHuman:/\n\nAssistant: turns)" (backslashes literal).
std::string format_description(DatasetFormat format);
bool is_preference_format(DatasetFormat format);

// A row that cannot be used. `reason` groups rows in the drop summary ("missing field", "empty
// field", "wrong type", "invalid UTF-8", "invalid JSON", "roles do not alternate", "unknown role",
// "empty completion", "prompt mismatch", "token id out of range"); what() is the full message.
class InvalidRow : public std::runtime_error {
 public:
  InvalidRow(std::string reason, const std::string& message)
      : std::runtime_error(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// What a row holds once its format is applied.
enum class RowContent { kText, kMessages, kIds };

struct PreferenceRow {
  RowContent content = RowContent::kText;
  std::string prompt, chosen, rejected;                         // kText
  RowJson prompt_messages, chosen_messages, rejected_messages;  // kMessages (arrays)
  TokenIds prompt_ids, chosen_ids, rejected_ids;                // kIds
  std::string where;                                            // file:line
  int64_t index = 0;
};

struct SftRow {
  RowContent content = RowContent::kText;
  // Text: prompt may be empty (text format: the whole text is the completion).
  std::string prompt, completion;
  // Messages: prompt_messages empty for the messages format (the whole conversation is scored).
  RowJson prompt_messages, completion_messages;
  std::string where;
  int64_t index = 0;
};

// An unpaired row (KTO): a prompt/completion row and whether the completion is desirable.
struct UnpairedRow {
  SftRow row;
  bool label = false;
};

struct FormatOptions {
  // hh only: turn the "\n\nHuman:"/"\n\nAssistant:" turns into chat messages so that the model's
  // chat template applies (config key `hh_to_messages`, default false: plain HH text).
  bool hh_to_messages = false;
};

// The format of a row judged from its keys (and, for chosen/rejected text, the HH markers).
// UserError naming the row and its keys when no format fits.
DatasetFormat detect_preference_format(const RawRow& row);
DatasetFormat detect_sft_format(const RawRow& row);

// Applies `format` (never kAuto) to a row; InvalidRow on a bad row (also for a RawRow that
// carries a read error).
PreferenceRow parse_preference_row(const RawRow& row, DatasetFormat format,
                                   const FormatOptions& options = {});
SftRow parse_sft_row(const RawRow& row, DatasetFormat format);
// The unpaired format: prompt/completion as parse_sft_row's kPromptCompletion, and `label`, a
// JSON boolean (InvalidRow "wrong type" for 1, "yes", null, ...).
UnpairedRow parse_unpaired_row(const RawRow& row);

// Message-list validation shared with data/hh: `field` names the list in messages. Throws
// InvalidRow: "wrong type", "empty field", "unknown role", "roles do not alternate".
void validate_messages(const RowJson& messages, const std::string& where, const std::string& field);
// Roles of a whole conversation alternate (checked on prompt + completion).
void validate_alternation(const RowJson& conversation, const std::string& where,
                          const std::string& field);

}  // namespace dpo
