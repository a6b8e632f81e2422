// apply_chat_template as transformers does it: the template rendered with messages, tools,
// documents, add_generation_prompt, the special tokens and any extra variables.
#include "chat/chat_template.h"

#include "chat/jinja_eval.h"
#include "chat/jinja_parser.h"

namespace dpo {

class JinjaProgram {
 public:
  explicit JinjaProgram(const std::string& source) : body(jinja::parse_template(source)) {}
  jinja::Body body;
};

ChatTemplate::ChatTemplate(const std::string& source)
    : program_(std::make_unique<JinjaProgram>(source)) {}
ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::apply(const nlohmann::json& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::json& extra_variables) const {
  // nlohmann::json keeps object keys sorted; callers that need the file's key order (tools
  // rendered with tojson) use the ordered_json overload.
  return apply(nlohmann::ordered_json(messages), add_generation_prompt, bos_token, eos_token,
               nlohmann::ordered_json(extra_variables));
}

namespace {

// transformers' _alias_reasoning_fields (utils/chat_template_utils.py): a message with
// reasoning_content, thinking or reasoning (the first not null, in that order) is rendered as
// {"thinking": r, **message, "reasoning_content": r}, so that templates reading any one of the
// names see it (Qwen3 reads reasoning_content, gpt-oss thinking).
nlohmann::ordered_json alias_reasoning_fields(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return messages;
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& message : messages) {
    const nlohmann::ordered_json* reasoning = nullptr;
    if (message.is_object()) {
      for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
        const auto it = message.find(key);
        if (it != message.end() && !it->is_null()) {
          reasoning = &*it;
          break;
        }
      }
    }
    if (!reasoning) {
      out.push_back(message);
      continue;
    }
    nlohmann::ordered_json aliased = nlohmann::ordered_json::object();
    aliased["thinking"] = *reasoning;
    for (const auto& [key, value] : message.items()) aliased[key] = value;  // keeps thinking first
    aliased["reasoning_content"] = *reasoning;
    out.push_back(std::move(aliased));
  }
  return out;
}

}  // namespace

std::string ChatTemplate::apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::ordered_json& extra_variables) const {
  std::vector<std::pair<std::string, jinja::Value>> variables = {
      {"messages", jinja::Value::from_json(alias_reasoning_fields(messages))},
      {"tools", jinja::Value::none()},
      {"documents", jinja::Value::none()},
      {"add_generation_prompt", jinja::Value(add_generation_prompt)},
  };
  // transformers passes the tokenizer's special_tokens_map, which leaves out a token that is
  // None: the variable is then undefined (bos_token + '...' fails), not "".
  if (!bos_token.empty()) variables.emplace_back("bos_token", jinja::Value(bos_token));
  if (!eos_token.empty()) variables.emplace_back("eos_token", jinja::Value(eos_token));
  if (extra_variables.is_object()) {
    for (const auto& [name, value] : extra_variables.items())
      variables.emplace_back(name, jinja::Value::from_json(value));
  }
  return jinja::render(program_->body, variables);
}

}  // namespace dpo
