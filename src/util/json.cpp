#include "util/json.h"

#include "util/error.h"
#include "util/json_depth.h"

namespace dpo {
namespace {

template <typename Json>
Json parse_as(std::string_view text, const std::string& where) {
  check_json_depth(text, where);  // nlohmann parses recursively: deep nesting would overflow
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: not valid JSON ({})", where, e.what());
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& where) {
  return parse_as<nlohmann::json>(text, where);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& where) {
  return parse_as<nlohmann::ordered_json>(text, where);
}

}  // namespace dpo
