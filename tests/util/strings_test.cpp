#include "util/strings.h"

#include <gtest/gtest.h>

namespace dpo {
namespace {

TEST(Strings, SplitJoinTrim) {
  EXPECT_EQ(split("a,b,,c", ','), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_TRUE(starts_with("learning_rate", "learn"));
  EXPECT_FALSE(ends_with("a", "ab"));
}

TEST(Strings, ClosestMatchSuggestsNearbyKeysOnly) {
  std::vector<std::string> keys = {"learning_rate", "lora_r", "lora_alpha", "beta"};
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(closest_match("learning_rat", keys), "learning_rate");
  EXPECT_EQ(closest_match("lora_alhpa", keys), "lora_alpha");
  EXPECT_EQ(closest_match("completely_different", keys), "");
}

TEST(Strings, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("Dublin \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xFF"));              // bad lead byte
  EXPECT_FALSE(is_valid_utf8("ab\xE2\x82"));        // truncated at the end
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

TEST(Strings, AppendUtf8EncodesEveryLength) {
  std::string out;
  for (uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u, 0x10FFFFu}) append_utf8(out, cp);
  EXPECT_EQ(out, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF");
  EXPECT_TRUE(is_valid_utf8(out));
}

}  // namespace
}  // namespace dpo
