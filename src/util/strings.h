// Small string helpers shared by every layer.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dpo {

std::vector<std::string> split(std::string_view text, char sep);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string trim(std::string_view text);
bool starts_with(std::string_view text, std::string_view prefix);
bool ends_with(std::string_view text, std::string_view suffix);

// Levenshtein distance; used to suggest the closest known key in error messages.
size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word`, or "" when none is reasonably close.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

// Appends the UTF-8 encoding of a code point (<= U+10FFFF).
void append_utf8(std::string& out, uint32_t code_point);

// True when `text` is valid UTF-8.
bool is_valid_utf8(std::string_view text);

// &, <, >, " and ' as HTML entities; the double quote as `quote` (&quot; in our pages, &#34; as
// Jinja's markupsafe writes it).
std::string escape_html(std::string_view text, std::string_view quote = "&quot;");

// A tensor shape as error messages print it: "[2, 3]".
std::string shape_text(const std::vector<int64_t>& shape);

}  // namespace dpo
