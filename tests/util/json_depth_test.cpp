// util/json_depth.h: one nesting limit for every JSON text read.
#include "util/json_depth.h"

#include <gtest/gtest.h>

#include <string>

#include "util/error.h"

namespace dpo {
namespace {

std::string nested(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(JsonDepth, CountsArraysAndObjectsNotStrings) {
  EXPECT_EQ(json_nesting_depth("1"), 0u);
  EXPECT_EQ(json_nesting_depth("{\"a\": [1, {\"b\": []}]}"), 4u);
  EXPECT_EQ(json_nesting_depth("[\"[[[[\", \"\\\"[[[\"]"), 1u);  // brackets in strings, escapes
  EXPECT_EQ(json_nesting_depth(nested(kMaxJsonDepth)), kMaxJsonDepth);
  EXPECT_EQ(json_nesting_depth(nested(100000)), kMaxJsonDepth + 1);  // stops counting early
}

TEST(JsonDepth, DeepTextIsAUserErrorNamingTheSource) {
  EXPECT_NO_THROW(check_json_depth(nested(kMaxJsonDepth), "ok.json"));
  try {
    check_json_depth(nested(100000), "rows.jsonl:3");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "rows.jsonl:3: JSON nested deeper than 512 levels (arrays or objects inside each "
              "other); no file of this kind needs that many");
  }
}

}  // namespace
}  // namespace dpo
