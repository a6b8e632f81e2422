#include "data/formats.h"

#include <limits>

#include "data/hh.h"
#include "data/prompt.h"
#include "util/error.h"
#include "util/strings.h"

namespace dpo {

using json = RowJson;

// ---------------------------------------------------------------- names

namespace {

struct FormatInfo {
  DatasetFormat format;
  const char* name;
  const char* description;
};

const FormatInfo kFormats[] = {
    {DatasetFormat::kAuto, "auto", "auto (detected from the first rows)"},
    {DatasetFormat::kStandard, "standard", "standard (prompt/chosen/rejected text)"},
    {DatasetFormat::kConversational, "conversational",
     "conversational (prompt/chosen/rejected chat messages; without a prompt, the shared leading "
     "messages)"},
    {DatasetFormat::kImplicit, "implicit",
     "implicit (chosen/rejected text, prompt = their common prefix)"},
    {DatasetFormat::kHh, "hh", "hh (chosen/rejected with \\n\\nHuman:/\\n\\nAssistant: turns)"},
    {DatasetFormat::kPretokenized, "pretokenized",
     "pretokenized (prompt_ids/chosen_ids/rejected_ids taken as given)"},
    {DatasetFormat::kPromptCompletion, "prompt_completion",
     "prompt_completion (SFT: prompt/completion, text or chat messages)"},
    {DatasetFormat::kMessages, "messages", "messages (SFT: chat messages, every token scored)"},
    {DatasetFormat::kText, "text", "text (SFT: plain text, every token scored)"},
    {DatasetFormat::kUnpaired, "unpaired",
     "unpaired (KTO: prompt/completion/label, text or chat messages)"},
};

const FormatInfo& info(DatasetFormat format) {
  for (const FormatInfo& f : kFormats)
    if (f.format == format) return f;
  throw_internal_error("unknown dataset format {}", static_cast<int>(format));
}

}  // namespace

DatasetFormat parse_dataset_format(const std::string& name) {
  std::vector<std::string> names;
  for (const FormatInfo& f : kFormats) {
    if (name == f.name) return f.format;
    names.push_back(f.name);
  }
  throw_user_error("dataset_format: unknown format '{}' (expected one of: {})", name,
                   join(names, ", "));
}

std::string format_name(DatasetFormat format) {
  return info(format).name;
}
std::string format_description(DatasetFormat format) {
  return info(format).description;
}

bool is_preference_format(DatasetFormat format) {
  return format == DatasetFormat::kStandard || format == DatasetFormat::kConversational ||
         format == DatasetFormat::kImplicit || format == DatasetFormat::kHh ||
         format == DatasetFormat::kPretokenized;
}

// ---------------------------------------------------------------- detection

namespace {

bool is_message_list(const json& value) {
  return value.is_array() && !value.empty() && value[0].is_object() && value[0].contains("role");
}

std::string keys_of(const json& object) {
  std::vector<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.push_back(it.key());
  return "{" + join(keys, ", ") + "}";
}

void require_object(const RawRow& row) {
  if (!row.ok()) throw InvalidRow(row.error_reason, row.error_message);
  if (!row.value.is_object())
    throw InvalidRow("wrong type", fmt::format("{}: expected a JSON object per row, got {}",
                                               row.where(), row.value.type_name()));
}

}  // namespace

DatasetFormat detect_preference_format(const RawRow& row) {
  require_object(row);
  const json& v = row.value;
  if (v.contains("prompt_ids") || v.contains("chosen_ids")) return DatasetFormat::kPretokenized;
  if (v.contains("chosen") && v.contains("rejected")) {
    if (is_message_list(v["chosen"])) return DatasetFormat::kConversational;
    if (v.contains("prompt")) return DatasetFormat::kStandard;
    if (v["chosen"].is_string()) {
      const std::string& chosen = v["chosen"].get_ref<const std::string&>();
      if (chosen.find(kHhHuman) != std::string::npos &&
          chosen.find(kHhAssistant) != std::string::npos)
        return DatasetFormat::kHh;
    }
    return DatasetFormat::kImplicit;
  }
  throw_user_error(
      "{}: cannot tell the preference format from the keys {} (expected prompt/chosen/rejected, "
      "chosen/rejected or prompt_ids/chosen_ids/rejected_ids; or set dataset_format)",
      row.where(), keys_of(v));
}

DatasetFormat detect_sft_format(const RawRow& row) {
  require_object(row);
  const json& v = row.value;
  if (v.contains("messages")) return DatasetFormat::kMessages;
  if (v.contains("prompt") && v.contains("completion")) return DatasetFormat::kPromptCompletion;
  if (v.contains("text")) return DatasetFormat::kText;
  throw_user_error(
      "{}: cannot tell the SFT format from the keys {} (expected prompt/completion, messages or "
      "text; or set dataset_format)",
      row.where(), keys_of(v));
}

// ---------------------------------------------------------------- field access

namespace {

const json& field(const RawRow& row, const std::string& name, const char* expected) {
  auto it = row.value.find(name);
  if (it == row.value.end())
    throw InvalidRow("missing field", fmt::format("{}: missing field '{}' (expected {})",
                                                  row.where(), name, expected));
  return *it;
}

std::string text_field(const RawRow& row, const std::string& name) {
  const json& value = field(row, name, "a non-empty string");
  if (!value.is_string())
    throw InvalidRow("wrong type", fmt::format("{}: field '{}': expected a string, got {}",
                                               row.where(), name, value.type_name()));
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty())
    throw InvalidRow("empty field",
                     fmt::format("{}: field '{}': expected a non-empty string, got an empty string",
                                 row.where(), name));
  return text;
}

json message_field(const RawRow& row, const std::string& name) {
  const json& value = field(row, name, "a non-empty list of {role, content} messages");
  validate_messages(value, row.where(), name);
  return value;
}

TokenIds ids_field(const RawRow& row, const std::string& name, bool allow_empty) {
  const json& value = field(row, name, "a list of token ids");
  if (!value.is_array())
    throw InvalidRow("wrong type",
                     fmt::format("{}: field '{}': expected a list of token ids, got {}",
                                 row.where(), name, value.type_name()));
  if (value.empty() && !allow_empty)
    throw InvalidRow("empty field",
                     fmt::format("{}: field '{}': expected a non-empty list of token ids, got an "
                                 "empty list",
                                 row.where(), name));
  TokenIds ids;
  ids.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const json& id = value[i];
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() > std::numeric_limits<TokenId>::max())
      throw InvalidRow("wrong type",
                       fmt::format("{}: field '{}': element {} is {}; expected a non-negative "
                                   "integer token id",
                                   row.where(), name, i, id.dump()));
    ids.push_back(static_cast<TokenId>(id.get<int64_t>()));
  }
  return ids;
}

[[noreturn]] void empty_completion(const std::string& where, const std::string& name) {
  throw InvalidRow("empty completion",
                   fmt::format("{}: field '{}': empty completion once the prompt is removed "
                               "(expected some answer text after the prompt)",
                               where, name));
}

void require_text_completion(const std::string& completion, const std::string& where,
                             const std::string& name) {
  if (trim(completion).empty()) empty_completion(where, name);
}

void require_message_completion(const json& completion, const std::string& where,
                                const std::string& name) {
  if (completion.empty()) empty_completion(where, name);
  const json& last = completion.back();
  if (trim(last["content"].get_ref<const std::string&>()).empty()) empty_completion(where, name);
}

json concat(const json& a, const json& b) {
  json out = a;
  for (const json& m : b) out.push_back(m);
  return out;
}

}  // namespace

void validate_messages(const json& messages, const std::string& where, const std::string& name) {
  if (!messages.is_array())
    throw InvalidRow(
        "wrong type",
        fmt::format("{}: field '{}': expected a list of {{role, content}} messages, got {}", where,
                    name, messages.type_name()));
  if (messages.empty())
    throw InvalidRow(
        "empty field",
        fmt::format("{}: field '{}': expected a non-empty list of messages, got an empty "
                    "list",
                    where, name));
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    if (!m.is_object())
      throw InvalidRow("wrong type",
                       fmt::format("{}: field '{}': message {} is {}; expected an object with role "
                                   "and content",
                                   where, name, i, m.type_name()));
    if (!m.contains("role") || !m["role"].is_string())
      throw InvalidRow(
          m.contains("role") ? "wrong type" : "missing field",
          fmt::format("{}: field '{}': message {} needs a string 'role'", where, name, i));
    const std::string& role = m["role"].get_ref<const std::string&>();
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      throw InvalidRow("unknown role",
                       fmt::format("{}: field '{}': message {} has unknown role '{}' (expected "
                                   "system, user, assistant or tool)",
                                   where, name, i, role));
    if (!m.contains("content") || !m["content"].is_string())
      throw InvalidRow(
          m.contains("content") ? "wrong type" : "missing field",
          fmt::format(
              "{}: field '{}': message {} needs a string 'content'{}", where, name, i,
              m.contains("content") ? fmt::format(", got {}", m["content"].type_name()) : ""));
  }
}

void validate_alternation(const json& conversation, const std::string& where,
                          const std::string& name) {
  std::string previous;
  for (size_t i = 0; i < conversation.size(); ++i) {
    const std::string& role = conversation[i]["role"].get_ref<const std::string&>();
    bool fits = role == "system"      ? i == 0
                : role == "user"      ? previous != "user"
                : role == "assistant" ? previous != "assistant"
                                      : (previous == "assistant" || previous == "tool");
    if (!fits)
      throw InvalidRow(
          "roles do not alternate",
          fmt::format("{}: field '{}': message {} has role '{}' after '{}' (expected an optional "
                      "system message first, then user and assistant turns alternating)",
                      where, name, i, role, previous.empty() ? "nothing" : previous));
    previous = role;
  }
}

// ---------------------------------------------------------------- preference rows

namespace {

void parse_conversational(const RawRow& row, PreferenceRow& out) {
  json chosen = message_field(row, "chosen");
  json rejected = message_field(row, "rejected");
  json prompt;
  const json* given = row.value.contains("prompt") ? &row.value["prompt"] : nullptr;
  if (given && given->is_array()) {
    prompt = message_field(row, "prompt");
  } else {  // no (conversational) prompt: the shared leading messages (TRL maybe_extract_prompt)
    SplitMessages split = extract_message_prompt(chosen, rejected);
    prompt = split.prompt;
    chosen = split.chosen;
    rejected = split.rejected;
  }
  require_message_completion(chosen, row.where(), "chosen");
  require_message_completion(rejected, row.where(), "rejected");
  validate_alternation(concat(prompt, chosen), row.where(), "chosen");
  validate_alternation(concat(prompt, rejected), row.where(), "rejected");
  out.content = RowContent::kMessages;
  out.prompt_messages = std::move(prompt);
  out.chosen_messages = std::move(chosen);
  out.rejected_messages = std::move(rejected);
}

void parse_hh(const RawRow& row, const FormatOptions& options, PreferenceRow& out) {
  std::string chosen = text_field(row, "chosen");
  std::string rejected = text_field(row, "rejected");
  HhSplit c = split_hh(chosen, row.where(), "chosen");
  HhSplit r = split_hh(rejected, row.where(), "rejected");
  if (c.prompt != r.prompt)
    throw InvalidRow("prompt mismatch",
                     fmt::format("{}: fields 'chosen' and 'rejected' differ before their last "
                                 "\"\\n\\nAssistant:\" (expected the same dialogue with different "
                                 "final answers)",
                                 row.where()));
  require_text_completion(c.completion, row.where(), "chosen");
  require_text_completion(r.completion, row.where(), "rejected");
  if (!options.hh_to_messages) {
    out.content = RowContent::kText;
    out.prompt = std::move(c.prompt);
    out.chosen = std::move(c.completion);
    out.rejected = std::move(r.completion);
    return;
  }
  json chosen_turns = hh_to_messages(chosen, row.where(), "chosen");
  json rejected_turns = hh_to_messages(rejected, row.where(), "rejected");
  out.content = RowContent::kMessages;
  out.chosen_messages = json::array({chosen_turns.back()});
  out.rejected_messages = json::array({rejected_turns.back()});
  chosen_turns.erase(chosen_turns.size() - 1);
  out.prompt_messages = std::move(chosen_turns);
}

}  // namespace

PreferenceRow parse_preference_row(const RawRow& row, DatasetFormat format,
                                   const FormatOptions& options) {
  require_object(row);
  PreferenceRow out;
  out.where = row.where();
  out.index = row.index;
  switch (format) {
    case DatasetFormat::kStandard:
      out.prompt = text_field(row, "prompt");
      out.chosen = text_field(row, "chosen");
      out.rejected = text_field(row, "rejected");
      break;
    case DatasetFormat::kImplicit: {
      SplitText split = extract_text_prompt(text_field(row, "chosen"), text_field(row, "rejected"));
      require_text_completion(split.chosen, row.where(), "chosen");
      require_text_completion(split.rejected, row.where(), "rejected");
      out.prompt = std::move(split.prompt);
      out.chosen = std::move(split.chosen);
      out.rejected = std::move(split.rejected);
      break;
    }
    case DatasetFormat::kHh:
      parse_hh(row, options, out);
      break;
    case DatasetFormat::kConversational:
      parse_conversational(row, out);
      break;
    case DatasetFormat::kPretokenized:
      out.content = RowContent::kIds;
      out.prompt_ids = ids_field(row, "prompt_ids", /*allow_empty=*/true);
      out.chosen_ids = ids_field(row, "chosen_ids", false);
      out.rejected_ids = ids_field(row, "rejected_ids", false);
      break;
    default:
      throw_user_error(
          "dataset_format {} is an SFT format; preference training needs standard, "
          "conversational, implicit, hh or pretokenized",
          format_name(format));
  }
  return out;
}

// ---------------------------------------------------------------- SFT rows

SftRow parse_sft_row(const RawRow& row, DatasetFormat format) {
  require_object(row);
  SftRow out;
  out.where = row.where();
  out.index = row.index;
  switch (format) {
    case DatasetFormat::kText:
      out.completion = text_field(row, "text");
      break;
    case DatasetFormat::kMessages: {
      json messages = message_field(row, "messages");
      validate_alternation(messages, row.where(), "messages");
      out.content = RowContent::kMessages;
      out.prompt_messages = json::array();
      out.completion_messages = std::move(messages);
      break;
    }
    case DatasetFormat::kPromptCompletion:
      if (is_message_list(field(row, "prompt", "a string or a list of messages"))) {
        json prompt = message_field(row, "prompt");
        json completion = message_field(row, "completion");
        require_message_completion(completion, row.where(), "completion");
        validate_alternation(concat(prompt, completion), row.where(), "completion");
        out.content = RowContent::kMessages;
        out.prompt_messages = std::move(prompt);
        out.completion_messages = std::move(completion);
      } else {
        out.prompt = text_field(row, "prompt");
        out.completion = text_field(row, "completion");
      }
      break;
    default:
      throw_user_error(
          "dataset_format {} is a preference format; SFT needs prompt_completion, "
          "messages or text",
          format_name(format));
  }
  return out;
}

// ---------------------------------------------------------------- unpaired rows (KTO)

UnpairedRow parse_unpaired_row(const RawRow& row) {
  require_object(row);
  UnpairedRow out;
  const json& label = field(row, "label", "true or false");
  if (!label.is_boolean())
    throw InvalidRow("wrong type",
                     fmt::format("{}: field 'label': expected true or false (a JSON boolean: "
                                 "desirable or not), got {}",
                                 row.where(), label.dump()));
  out.label = label.get<bool>();
  out.row = parse_sft_row(row, DatasetFormat::kPromptCompletion);
  return out;
}

}  // namespace dpo
