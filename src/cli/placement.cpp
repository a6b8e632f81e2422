#include "cli/placement.h"

#include <ATen/Context.h>

#include "cli/command.h"
#include "io/dtype.h"
#include "util/error.h"

namespace dpo::cli {

void add_placement_options(CLI::App& app, PlacementOptions& options) {
  app.add_option("--device", options.device, "cpu | cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--dtype", options.dtype,
                 "base weights: f32 | bf16 | f16 (default: bf16 on cuda, f32 on cpu)");
  app.add_option("--threads", options.threads, "CPU threads (0: every core)")
      ->capture_default_str();
}

Placement resolve_placement(const PlacementOptions& options) {
  set_threads(options.threads);
  const bool cuda = options.device == "cuda";
  if (cuda && !at::hasCUDA())
    throw_user_error(
        "--device cuda: this dpo was built without CUDA or no GPU is visible (`dpo --version` "
        "tells which)");
  Placement placement;
  placement.device = cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  placement.dtype = !options.dtype.empty() ? parse_dtype_option(options.dtype, "--dtype")
                    : cuda                 ? at::kBFloat16
                                           : at::kFloat;
  if (placement.dtype == at::kHalf && !cuda)
    throw_user_error(
        "--dtype f16 needs --device cuda (libtorch's CPU matmuls have no half precision); use f32 "
        "or bf16 on the CPU");
  return placement;
}

}  // namespace dpo::cli
