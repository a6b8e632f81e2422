#include "cli/bench_lengths.h"

#include <string>
#include <system_error>
#include <vector>

#include "util/error.h"

namespace dpo::cli {

namespace fs = std::filesystem;

fs::path default_bench_lengths_file() {
  const char* name = "hh_like_lengths.json";
  std::vector<fs::path> candidates;
  std::error_code error;
  fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    fs::path dir = exe.parent_path();
    candidates = {dir / name, dir / "bench" / name, dir.parent_path() / "bench" / name};
  }
  candidates.push_back(fs::path(DPO_SOURCE_DIR) / "bench" / name);
  std::string looked;
  for (const fs::path& candidate : candidates) {
    if (fs::is_regular_file(candidate, error)) return candidate;
    looked += (looked.empty() ? "" : ", ") + candidate.string();
  }
  throw_user_error("--lengths: no default lengths file (looked for {}); pass --lengths FILE", looked);
}

}  // namespace dpo::cli
