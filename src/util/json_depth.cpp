#include "util/json_depth.h"

#include <fmt/format.h>

#include "util/error.h"

namespace dpo {

size_t json_nesting_depth(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string json_depth_problem(std::string_view text) {
  if (json_nesting_depth(text) <= kMaxJsonDepth) return "";
  return fmt::format(
      "JSON nested deeper than {} levels (arrays or objects inside each other); no file of this "
      "kind needs that many",
      kMaxJsonDepth);
}

void check_json_depth(std::string_view text, const std::string& source) {
  const std::string problem = json_depth_problem(text);
  if (!problem.empty()) throw_user_error("{}: {}", source, problem);
}

}  // namespace dpo
