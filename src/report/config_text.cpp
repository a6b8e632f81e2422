#include "report/config_text.h"

#include "util/strings.h"

namespace dpo::report {
namespace {

// Removes a trailing " # comment" outside quotes.
std::string strip_comment(std::string_view value) {
  char quote = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || value[i - 1] == ' ' || value[i - 1] == '\t')) {
      return trim(value.substr(0, i));
    }
  }
  return trim(value);
}

std::string unquote(std::string value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front())
    return value.substr(1, value.size() - 2);
  return value;
}

}  // namespace

ConfigEntries parse_config_text(std::string_view yaml_text, std::string* problem) {
  int line_number = 0;
  ConfigEntries entries;
  std::vector<std::string> pending_items;  // "- item" lines under the last key with an empty value
  auto flush_items = [&]() {
    if (!pending_items.empty() && !entries.empty())
      entries.back().second = "[" + join(pending_items, ", ") + "]";
    pending_items.clear();
  };
  for (const auto& raw : split(yaml_text, '\n')) {
    ++line_number;
    std::string line = raw;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string stripped = trim(line);
    if (stripped.empty() || stripped[0] == '#' || stripped == "---") continue;
    bool indented = line[0] == ' ' || line[0] == '\t';
    if (indented || stripped[0] == '-') {
      bool list_item = stripped.size() >= 2 && stripped[0] == '-' && stripped[1] == ' ';
      if (list_item && !entries.empty() &&
          (entries.back().second.empty() || !pending_items.empty()))
        pending_items.push_back(unquote(strip_comment(std::string_view(stripped).substr(2))));
      continue;
    }
    size_t colon = stripped.find(": ");
    if (colon == std::string::npos && !stripped.empty() && stripped.back() == ':')
      colon = stripped.size() - 1;
    if (colon == std::string::npos) {
      if (problem && problem->empty())
        *problem = "line " + std::to_string(line_number) + ": '" + stripped.substr(0, 60) +
                   "' is not a `key: value` line";
      continue;
    }
    flush_items();
    entries.emplace_back(unquote(trim(std::string_view(stripped).substr(0, colon))),
                         unquote(strip_comment(std::string_view(stripped).substr(colon + 1))));
  }
  flush_items();
  return entries;
}

std::optional<std::string> config_value(const ConfigEntries& entries, const std::string& key) {
  for (const auto& [name, value] : entries)
    if (name == key) return value;
  return std::nullopt;
}

}  // namespace dpo::report
