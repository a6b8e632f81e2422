// util/threads.h: thread counts capped at the cores, negative ones refused.
#include "util/threads.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace dpo {
namespace {

TEST(Threads, ZeroIsEveryCoreAndTooManyAreCapped) {
  const int cores = available_cores();
  EXPECT_GE(cores, 1);
  EXPECT_EQ(resolve_thread_count(0, "--threads"), cores);
  EXPECT_EQ(resolve_thread_count(1, "--threads"), 1);
  // 100000 threads used to hang libtorch with no output, 1000 to crawl on 2 cores
  EXPECT_EQ(resolve_thread_count(100000, "threads"), cores);
  EXPECT_EQ(resolve_thread_count(cores + 1, "threads"), cores);
}

TEST(Threads, NegativeIsAUserError) {
  try {
    resolve_thread_count(-2, "--threads");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "--threads -2: must be >= 0 (0: every core)");
  }
}

}  // namespace
}  // namespace dpo
