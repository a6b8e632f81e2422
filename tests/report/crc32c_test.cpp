#include "report/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace dpo::report {
namespace {

// Known-answer vectors from RFC 3720 (iSCSI), appendix B.4, and the classic check value.
TEST(Crc32c, CheckValue) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
}

TEST(Crc32c, Rfc3720Vectors) {
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
}

TEST(Crc32c, EmptyAndIncremental) {
  EXPECT_EQ(crc32c(""), 0u);
  std::string text = "The capital of Ireland is Dublin";
  uint32_t head = crc32c_extend(0, text.data(), 10);
  EXPECT_EQ(crc32c_extend(head, text.data() + 10, text.size() - 10), crc32c(text));
}

TEST(Crc32c, MaskMatchesTensorFlowAndRoundTrips) {
  // TensorFlow: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
  EXPECT_EQ(mask_crc(0u), 0xA282EAD8u);
  EXPECT_EQ(mask_crc(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xA282EAD8u);
  for (uint32_t crc : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x12345678u})
    EXPECT_EQ(unmask_crc(mask_crc(crc)), crc);
}

}  // namespace
}  // namespace dpo::report
