// `dpo --version`: what this binary was built against and what it can use now: the libtorch
// version, the CUDA and cuDNN versions it was built with, the GPUs visible, the attention paths.
#include <ATen/Context.h>

#include <cstdio>
#include <string>

#include "cli/command.h"
#include "util/torch_compat.h"

#ifdef DPO_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

namespace dpo::cli {

namespace {

#ifdef DPO_WITH_CUDA
// 13000 -> "13.0"; cuDNN 91900 -> "9.19.0" (cuDNN 9: major*10000 + minor*100 + patch).
std::string cuda_version_text(long version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}
std::string cudnn_version_text(long version) {
  if (version >= 90000)
    return std::to_string(version / 10000) + "." + std::to_string(version % 10000 / 100) + "." +
           std::to_string(version % 100);
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 100) + "." +
         std::to_string(version % 100);
}
#endif

std::string cuda_line() {
#ifdef DPO_WITH_CUDA
  std::string line = "CUDA: built with CUDA " + cuda_version_text(CUDART_VERSION);
  try {
    line += ", cuDNN " + cudnn_version_text(at::detail::getCUDAHooks().versionCuDNN());
  } catch (const std::exception&) {
    line += ", no cuDNN";
  }
  if (!at::hasCUDA()) return line + "; no GPU visible now (runs on the CPU)";
  int count = c10::cuda::device_count();
  line += "; available: " + std::to_string(count) + " GPU" + (count == 1 ? "" : "s");
  for (int device = 0; device < count; ++device) {
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, device) == cudaSuccess)
      line += std::string(device == 0 ? " (" : ", ") + properties.name + ", compute " +
              std::to_string(properties.major) + "." + std::to_string(properties.minor);
  }
  return line + (count > 0 ? ")" : "");
#else
  return "CUDA: not built in (this libtorch has no CUDA; CPU only)";
#endif
}

std::string attention_line() {
  std::string line = "attention: plain (matmul, mask, softmax: the reference)";
  if (compat::kHasSdpa) line += ", sdpa";
  line += ", varlen sequence by sequence";
#ifdef DPO_WITH_CUDA
  if (compat::kHasFlashVarlen) line += ", flash varlen (CUDA bf16/fp16, probed at first use)";
#endif
  return line;
}

}  // namespace

void print_version() {
  std::printf("dpo %s\nlibtorch %s\n%s\n%s\n", DPO_VERSION, compat::torch_version(),
              cuda_line().c_str(), attention_line().c_str());
}

}  // namespace dpo::cli
