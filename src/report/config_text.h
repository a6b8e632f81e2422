// Reads the top-level `key: value` lines of a run's config.yaml as plain text, for the report's
// summary (no YAML library in this layer). Comments and blank lines are skipped; quotes around a
// value are removed; a key whose value continues on indented "- item" lines gets the items joined
// with ", " in brackets; other nested content is ignored.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dpo::report {

using ConfigEntries = std::vector<std::pair<std::string, std::string>>;

// `problem` (when given) receives "line N: ..." for the first top-level line that is not
// `key: value` (a damaged or truncated file), else stays empty.
ConfigEntries parse_config_text(std::string_view yaml_text, std::string* problem = nullptr);
std::optional<std::string> config_value(const ConfigEntries& entries, const std::string& key);

}  // namespace dpo::report
