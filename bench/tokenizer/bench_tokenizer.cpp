// Encode throughput of dpo.cpp's tokenizer on a JSON-lines corpus ({"text": ...} per line).
// usage: bench_tokenizer TOKENIZER_DIR CORPUS.jsonl
// Prints one JSON line: load CPU seconds, MB/s per CPU second on one thread (first pass: empty
// word cache; second: warm), and wall-clock MB/s of encode_batch on every core.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace {

// CPU seconds of this thread (the machine may be shared: wall time would measure the others).
double thread_cpu_seconds() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return now.tv_sec + now.tv_nsec * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR CORPUS.jsonl\n", argv[0]);
    return 1;
  }
  std::vector<std::string> texts;
  size_t bytes = 0;
  std::ifstream in(argv[2]);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    texts.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
    bytes += texts.back().size();
  }
  double start = thread_cpu_seconds();
  dpo::Tokenizer tokenizer = dpo::Tokenizer::from_dir(argv[1]);
  double load = thread_cpu_seconds() - start;

  size_t tokens = 0;
  double passes[2];
  for (double& pass : passes) {
    start = thread_cpu_seconds();
    tokens = 0;
    for (const auto& text : texts) tokens += tokenizer.encode(text).size();
    pass = thread_cpu_seconds() - start;
  }
  // encode_batch on every core: wall clock (only meaningful on an idle machine).
  auto wall_start = std::chrono::steady_clock::now();
  auto batch = tokenizer.encode_batch(texts);
  double batch_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  double mb = bytes / 1e6;
  std::printf(
      "{\"impl\": \"dpo.cpp\", \"tokenizer\": \"%s\", \"texts\": %zu, \"mb\": %.3f, \"tokens\": "
      "%zu, "
      "\"load_cpu_s\": %.3f, \"cold_mb_s\": %.3f, \"warm_mb_s\": %.3f, \"batch_wall_mb_s\": %.3f, "
      "\"texts_per_s_warm\": %.1f}\n",
      argv[1], texts.size(), mb, tokens, load, mb / passes[0], mb / passes[1], mb / batch_seconds,
      texts.size() / passes[1]);
  return 0;
}
