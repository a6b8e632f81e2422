// Chat templates for tokenizers that carry none, exactly as the well-known models publish them.
#include <map>

#include "chat/chat_template.h"
#include "util/error.h"

namespace dpo {
namespace {

// meta-llama/Llama-2-7b-chat-hf (the "llama2-chat" template of the fixtures).
const char* const kLlama2 =
    R"tmpl({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})tmpl";

// TinyLlama/TinyLlama-1.1B-Chat-v1.0, the Zephyr format (the "tinyllama-chat" template).
const char* const kZephyr =
    R"tmpl({% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>
'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %})tmpl";

// ChatML as transformers documents it (Qwen, OpenHermes, ...).
const char* const kChatml =
    R"tmpl({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})tmpl";

// meta-llama/Meta-Llama-3-8B-Instruct, current revision (generation prompt only when asked).
const char* const kLlama3 =
    R"tmpl({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})tmpl";

const std::map<std::string, std::string>& builtins() {
  static const std::map<std::string, std::string> table = {
      {"llama-2", kLlama2}, {"zephyr", kZephyr}, {"chatml", kChatml}, {"llama-3", kLlama3}};
  return table;
}

}  // namespace

const std::string& builtin_chat_template(const std::string& name) {
  const auto it = builtins().find(name);
  if (it == builtins().end())
    throw_user_error(
        "unknown chat template '{}': expected one of chatml, llama-2, llama-3, zephyr (or a file)",
        name);
  return it->second;
}

bool is_builtin_chat_template(const std::string& name) {
  return builtins().count(name) > 0;
}

}  // namespace dpo
