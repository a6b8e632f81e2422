// util/memory.h: allocation failures become "out of memory" messages that say how much.
#include "util/memory.h"

#include <gtest/gtest.h>

namespace dpo {
namespace {

TEST(Memory, FormatsBytes) {
  EXPECT_EQ(format_bytes(512), "512 bytes");
  EXPECT_EQ(format_bytes(4096000), "3.9 MiB");
  EXPECT_EQ(format_bytes(uint64_t{3} << 30), "3.0 GiB");
}

TEST(Memory, AllocationFailuresAreOutOfMemory) {
  // libtorch's CPU allocator used to end as an internal error with a stack trace
  EXPECT_EQ(out_of_memory_message(
                "[enforce fail at alloc_cpu.cpp:117] err == 0. DefaultCPUAllocator: can't "
                "allocate memory: you tried to allocate 4096000 bytes. Error code 12 (Cannot "
                "allocate memory)"),
            "out of memory: an allocation of 3.9 MiB (4096000 bytes) failed; free memory, raise "
            "the limit (ulimit -v) or use a smaller model, dtype or batch");
  EXPECT_NE(out_of_memory_message("std::bad_alloc").find("out of memory"), std::string::npos);
  EXPECT_EQ(out_of_memory_message(
                "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.79 GiB total)\nmore"),
            "out of memory on the GPU: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; "
            "7.79 GiB total) (use a smaller batch, bf16, gradient_checkpointing or a larger GPU)");
  EXPECT_EQ(out_of_memory_message("index out of range"), "");
}

TEST(Memory, NoLimitNoCheck) {
  if (address_space_left()) GTEST_SKIP() << "this test runs under an address-space limit";
  EXPECT_NO_THROW(check_memory_for(uint64_t{1} << 50, "anything"));
}

}  // namespace
}  // namespace dpo
