// Memory checks before large allocations: under an address-space limit (ulimit -v, cgroups set
// none of this) libtorch's BLAS spins instead of failing when its buffers cannot be mapped, so a
// command that knows how much it will need says so first.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace dpo {

// "1.5 GiB", "300 MiB", "12 KiB", "512 bytes".
std::string format_bytes(uint64_t bytes);

// Address space this process may still map under RLIMIT_AS; nullopt when unlimited.
std::optional<uint64_t> address_space_left();

// UserError "out of memory: WHAT needs about X, but the address-space limit (ulimit -v) leaves
// only Y" when `needed_bytes` does not fit.
void check_memory_for(uint64_t needed_bytes, const std::string& what);

// For the program's first moments, before the shared libraries' initializers run (an ELF
// preinit_array function): OpenBLAS's constructor maps a buffer of about 130 MiB per core and
// retries forever when an address-space limit (ulimit -v) refuses one. Under such a limit this
// lowers OPENBLAS_NUM_THREADS to the buffers that fit (with a warning), or prints the "out of
// memory" error and exits with 1 when not even one fits. Uses only system calls and getenv/setenv.
void limit_blas_threads_to_address_space();

// The "out of memory" message for an allocation failure reported by libtorch or the C++ runtime
// (`what` of the exception), or "" when `what` is no allocation failure.
std::string out_of_memory_message(const std::string& what);

}  // namespace dpo
