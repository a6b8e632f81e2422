#include "cli/placement.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <filesystem>

#include "cli/args.h"
#include "cli/command.h"
#include "io/dtype.h"
#include "io/model_config.h"
#include "util/error.h"
#include "util/memory.h"

namespace dpo::cli {

void add_placement_options(CLI::App& app, PlacementOptions& options) {
  app.add_option("--device", options.device, "cpu | cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--dtype", options.dtype,
                 "base weights: f32 | bf16 | f16 (default: bf16 on cuda, f32 on cpu)");
  add_threads_option(app, options.threads);
}

void check_memory_for_model(const std::string& dir, at::ScalarType dtype, at::Device device,
                            double extra_bytes_per_parameter, const std::string& what) {
  if (!device.is_cpu() || !address_space_left()) return;
  std::error_code ec;
  const std::filesystem::path config_json = std::filesystem::path(dir) / "config.json";
  if (!std::filesystem::is_regular_file(config_json, ec)) return;
  const ModelConfig config = ModelConfig::from_file(config_json);
  const double parameters = static_cast<double>(config.num_parameters());
  uint64_t mapped = 0;  // the safetensors files are mapped into memory while they load
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.path().extension() == ".safetensors") mapped += entry.file_size(ec);
  // libtorch and OpenBLAS: per-thread buffers and stacks, code, allocator slack
  // (measured: about 300 MiB more address space with 2 threads once the first matmuls ran)
  const uint64_t runtime =
      (uint64_t{256} << 20) + static_cast<uint64_t>(at::get_num_threads()) * (uint64_t{64} << 20);
  const double weights =
      parameters * (static_cast<double>(c10::elementSize(dtype)) + extra_bytes_per_parameter);
  check_memory_for(mapped + static_cast<uint64_t>(weights) + runtime,
                   fmt::format("{} with {} ({:.0f}M parameters)", what, dir, parameters / 1e6));
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
