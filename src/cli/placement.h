// --device, --dtype and --threads of the commands that load or build a model.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace dpo::cli {

struct PlacementOptions {
  std::string device = "cpu";  // cpu | cuda
  std::string dtype;           // f32 | bf16 | f16; empty: bf16 on cuda, f32 on cpu
  int64_t threads = 0;         // CPU threads; 0: every core
};

struct Placement {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

// Adds --device, --dtype and --threads to `app`, bound to `options`.
void add_placement_options(CLI::App& app, PlacementOptions& options);

// Checks (util/memory.h) that loading the model in `dir` as `dtype` on the CPU, plus
// `extra_bytes_per_parameter` for copies the command makes (dpo merge's converted output), fits
// the address-space limit; `what` names the work in the message ("merging", "generating").
// Nothing is checked without a limit, on CUDA, or without a readable config.json (the load
// reports that).
void check_memory_for_model(const std::string& dir, at::ScalarType dtype, at::Device device,
                            double extra_bytes_per_parameter, const std::string& what);

// Sets the CPU thread count and resolves device and dtype. UserError for --device cuda where this
// build or machine has no CUDA, and for an unknown --dtype.
Placement resolve_placement(const PlacementOptions& options);

}  // namespace dpo::cli
