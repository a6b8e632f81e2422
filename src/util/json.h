// JSON text parsed with the error every reader of a file gives: "WHERE: not valid JSON (DETAIL)",
// WHERE being a file or FILE:LINE (nlohmann's parse_error, or out_of_range for 1e999).
// Text nested deeper than kMaxJsonDepth (util/json_depth.h) is refused first.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace dpo {

nlohmann::json parse_json(std::string_view text, const std::string& where);
nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& where);

}  // namespace dpo
