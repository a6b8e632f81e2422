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

std::string ChatTemplate::apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                const std::string& bos_token, const std::string& eos_token,
                                const nlohmann::ordered_json& extra_variables) const {
  std::vector<std::pair<std::string, jinja::Value>> variables = {
      {"messages", jinja::Value::from_json(messages)},
      {"tools", jinja::Value::none()},
      {"documents", jinja::Value::none()},
      {"add_generation_prompt", jinja::Value(add_generation_prompt)},
      {"bos_token", jinja::Value(bos_token)},
      {"eos_token", jinja::Value(eos_token)},
  };
  if (extra_variables.is_object()) {
    for (const auto& [name, value] : extra_variables.items())
      variables.emplace_back(name, jinja::Value::from_json(value));
  }
  return jinja::render(program_->body, variables);
}

}  // namespace dpo
