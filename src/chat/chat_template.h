// Hugging Face chat templates: a Jinja interpreter covering what real templates use, and
// apply_chat_template identical to transformers (trim_blocks and lstrip_blocks on).
// Plain C++: no libtorch. Values are nlohmann::json (messages, tools, extra variables).
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace dpo {

class JinjaProgram;  // parsed template (chat/jinja_*.h)

class ChatTemplate {
 public:
  // Parses `source`; UserError "chat template line L column C: ..." on a syntax error.
  explicit ChatTemplate(const std::string& source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with `messages` (array of {role, content, ...}), `add_generation_prompt`,
  // `bos_token`, `eos_token`, and any extra variables (e.g. tools) merged in.
  std::string apply(const nlohmann::json& messages, bool add_generation_prompt,
                    const std::string& bos_token, const std::string& eos_token,
                    const nlohmann::json& extra_variables = nlohmann::json::object()) const;
  // The same with insertion-ordered JSON, so that tojson writes keys in the caller's order
  // (nlohmann::json sorts object keys; Python dicts keep theirs). tools and documents are None
  // unless extra_variables sets them, as in transformers.
  std::string apply(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                    const std::string& bos_token, const std::string& eos_token,
                    const nlohmann::ordered_json& extra_variables) const;

 private:
  std::unique_ptr<JinjaProgram> program_;
};

// Built-in templates for tokenizers that carry none: "llama-2", "zephyr", "chatml", "llama-3".
// UserError listing the known names for anything else.
const std::string& builtin_chat_template(const std::string& name);
bool is_builtin_chat_template(const std::string& name);

}  // namespace dpo
