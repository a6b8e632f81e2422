// Where `dpo bench` finds its default lengths file (bench/hh_like_lengths.json), from any folder.
#pragma once
#include <filesystem>

namespace dpo::cli {

// hh_like_lengths.json next to the running binary (a GPU bundle), in bench/ beside it or one
// folder up (build/dpo in the repository), else in the source tree this binary was built from.
// UserError listing where it looked when none exists.
std::filesystem::path default_bench_lengths_file();

}  // namespace dpo::cli
