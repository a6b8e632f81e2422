// libFuzzer target for the chat template parser and evaluator. Input: template text, optionally
// followed by a NUL byte and JSON (an array: the messages; an object: extra variables).
// Every input must render or raise dpo::UserError; anything else is a bug.
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DDPO_FUZZ=ON
//   -DDPO_BUILD_TESTS=OFF ninja -C build-fuzz chat_template_fuzz
//   ./build-fuzz/chat_template_fuzz /tmp/corpus-chat fuzz/seeds/chat -max_total_time=600
//   -timeout=30
// Seeds: the fixture templates and the templates of tests/chat/jinja_cases.json.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"
#include "util/error.h"

namespace {

const nlohmann::ordered_json& default_messages() {
  static const nlohmann::ordered_json value = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "  Hi <b>there</b> é 🙂  ", "n": 3, "f": 1.5, "l": [1, "a", null, true]},
    {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello.",
     "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": [2.5]}}}]},
    {"role": "tool", "content": "{\"ok\": true}"},
    {"role": "user", "content": "bye"}
  ])");
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string source = input.substr(0, nul);
  nlohmann::ordered_json messages = default_messages();
  nlohmann::ordered_json extra =
      nlohmann::ordered_json::parse(R"({"tools": [{"name": "f", "parameters": {}}]})");
  if (nul != std::string::npos) {
    try {
      nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(input.substr(nul + 1));
      if (parsed.is_array()) messages = std::move(parsed);
      if (parsed.is_object()) extra = std::move(parsed);
    } catch (const nlohmann::ordered_json::exception&) {
      // not JSON: keep the defaults
    }
  }
  try {
    const dpo::ChatTemplate chat_template(source);
    chat_template.apply(messages, true, "<s>", "</s>", extra);
    chat_template.apply(messages, false, "<s>", "</s>", extra);
  } catch (const dpo::UserError&) {
    // a template error the user can fix: fine
  }
  return 0;
}
