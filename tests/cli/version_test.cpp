// `dpo --version` names the libtorch it was built against, its CUDA (and cuDNN) build, whether a
// GPU is visible now, and the attention paths.
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/version.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <memory>
#include <string>

namespace {

std::string run_version(int* exit_code) {
  std::string command = std::string(DPO_BINARY) + " --version 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string output;
  std::array<char, 512> buffer{};
  while (pipe && fgets(buffer.data(), buffer.size(), pipe.get())) output += buffer.data();
  int status = pclose(pipe.release());
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

TEST(Version, NamesLibtorchCudaAndAttention) {
  int exit_code = -1;
  std::string out = run_version(&exit_code);
  ASSERT_EQ(exit_code, 0) << out;
  EXPECT_NE(out.find(std::string("libtorch ") + TORCH_VERSION), std::string::npos) << out;
#ifdef DPO_WITH_CUDA
  EXPECT_NE(out.find("CUDA: built with CUDA 1"), std::string::npos) << out;
  EXPECT_NE(out.find("cuDNN"), std::string::npos) << out;
  EXPECT_NE(out.find(at::hasCUDA() ? "; available: " : "no GPU visible now"), std::string::npos)
      << out;
  EXPECT_NE(out.find("flash varlen"), std::string::npos) << out;
#else
  EXPECT_NE(out.find("CUDA: not built in"), std::string::npos) << out;
#endif
  EXPECT_NE(out.find("attention: plain"), std::string::npos) << out;
  EXPECT_NE(out.find("varlen sequence by sequence"), std::string::npos) << out;
  if (TORCH_VERSION_MAJOR >= 2) {
    EXPECT_NE(out.find("sdpa"), std::string::npos) << out;
  }
}

}  // namespace
