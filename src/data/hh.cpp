#include "data/hh.h"

#include <cstring>

#include <fmt/format.h>

#include "data/formats.h"
#include "util/strings.h"

namespace dpo {

HhSplit split_hh(const std::string& text, const std::string& where, const std::string& field) {
  size_t marker = text.rfind(kHhAssistant);
  if (marker == std::string::npos)
    throw InvalidRow(
        "not HH text",
        fmt::format("{}: field '{}': expected HH text with a \"\\n\\nAssistant:\" turn, "
                    "found none",
                    where, field));
  size_t end = marker + std::strlen(kHhAssistant);
  return {text.substr(0, end), text.substr(end)};
}

RowJson hh_to_messages(const std::string& text, const std::string& where,
                       const std::string& field) {
  struct Marker {
    const char* text;
    const char* role;
  };
  const Marker markers[] = {{kHhHuman, "user"}, {kHhAssistant, "assistant"}};
  RowJson messages = RowJson::array();
  size_t position = 0;
  const Marker* current = nullptr;
  size_t content_start = 0;
  auto flush = [&](size_t content_end) {
    if (!current) {
      if (!trim(std::string_view(text).substr(0, content_end)).empty())
        throw InvalidRow("not HH text",
                         fmt::format("{}: field '{}': expected HH text starting with "
                                     "\"\\n\\nHuman:\", found other text before it",
                                     where, field));
      return;
    }
    std::string role = current->role;
    if (!messages.empty() && messages.back()["role"] == role)
      throw InvalidRow("roles do not alternate",
                       fmt::format("{}: field '{}': turn {} is {} after {}; expected Human and "
                                   "Assistant turns to alternate",
                                   where, field, messages.size(), role, role));
    messages.push_back({{"role", role},
                        {"content", trim(std::string_view(text).substr(
                                        content_start, content_end - content_start))}});
  };
  while (true) {
    size_t next = std::string::npos;
    const Marker* next_marker = nullptr;
    for (const Marker& m : markers) {
      size_t found = text.find(m.text, position);
      if (found < next) {
        next = found;
        next_marker = &m;
      }
    }
    if (!next_marker) break;
    flush(next);
    current = next_marker;
    content_start = next + std::strlen(next_marker->text);
    position = content_start;
  }
  flush(text.size());
  if (messages.empty() || messages.back()["role"] != "assistant")
    throw InvalidRow("not HH text", fmt::format("{}: field '{}': expected HH text ending with an "
                                                "\"\\n\\nAssistant:\" turn",
                                                where, field));
  return messages;
}

}  // namespace dpo
