// Data pipeline throughput: read, parse, tokenize and batch a synthetic HH-style file.
// usage: bench_data TOKENIZER_DIR [ROWS=160000] [THREADS=2] [OUT_DIR=/tmp]
// Writes OUT_DIR/bench_hh.jsonl (HH-RLHF shape: "\n\nHuman: ... \n\nAssistant: ..." dialogues of
// 1-3 turns, chosen and rejected differing in the last answer; lengths drawn around HH's), runs
// the pipeline (max_length 1024, keep_start) with THREADS tokenization threads, then builds every
// padded batch of 8 pairs of one shuffled epoch. Prints one JSON line: rows/s per stage and end to
// end (wall clock), and CPU seconds.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/model_data.h"
#include "data/sampler.h"
#include "util/log.h"

namespace {

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double process_cpu_seconds() {
  timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

const char* kWords[] = {
    "the",    "capital",   "of",     "Ireland", "is",    "Dublin",   "and",   "people",  "often",
    "think",  "that",      "Cork",   "could",   "be",    "it,",      "but",   "history", "shows",
    "a",      "different", "story.", "What",    "do",    "you",      "know",  "about",   "rivers",
    "cities", "music",     "food?",  "I",       "would", "like",     "help",  "with",    "my",
    "garden", "because",   "plants", "need",    "water", "sunlight", "every", "day."};

std::string sentence(dpo::SplitMix64& rng, int words) {
  std::string out;
  for (int i = 0; i < words; ++i) {
    if (i) out += ' ';
    out += kWords[rng.below(sizeof(kWords) / sizeof(kWords[0]))];
  }
  return out;
}

void write_hh_file(const std::string& path, int64_t rows) {
  std::ofstream out(path);
  dpo::SplitMix64 rng(7);
  for (int64_t r = 0; r < rows; ++r) {
    std::string dialogue;
    int turns = 1 + static_cast<int>(rng.below(3));
    for (int t = 0; t < turns; ++t) {
      dialogue += "\n\nHuman: " + sentence(rng, 8 + static_cast<int>(rng.below(30)));
      dialogue += "\n\nAssistant:";
      if (t + 1 < turns) dialogue += " " + sentence(rng, 10 + static_cast<int>(rng.below(40)));
    }
    nlohmann::json row = {
        {"chosen", dialogue + " " + sentence(rng, 10 + static_cast<int>(rng.below(60)))},
        {"rejected", dialogue + " " + sentence(rng, 10 + static_cast<int>(rng.below(60)))}};
    out << row.dump() << '\n';
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR [ROWS=160000] [THREADS=2] [OUT_DIR=/tmp]\n",
                 argv[0]);
    return 1;
  }
  const int64_t rows = argc > 2 ? std::stoll(argv[2]) : 160000;
  const int threads = argc > 3 ? std::stoi(argv[3]) : 2;
  const std::string path = std::string(argc > 4 ? argv[4] : "/tmp") + "/bench_hh.jsonl";
  dpo::set_log_level(dpo::LogLevel::kWarn);
  write_hh_file(path, rows);
  dpo::Tokenizer tokenizer = dpo::Tokenizer::from_dir(argv[1]);

  double wall0 = wall_seconds(), cpu0 = process_cpu_seconds();
  dpo::DataOptions options;
  options.dataset = {path};
  options.threads = threads;
  dpo::PreferenceData data = dpo::load_preference_data(options, tokenizer);
  double wall1 = wall_seconds(), cpu1 = process_cpu_seconds();

  dpo::SamplerOptions sampler;
  sampler.batch_size = 8;
  int64_t tokens = 0;
  for (const auto& batch :
       dpo::epoch_batches(static_cast<int64_t>(data.train.size()), 0, sampler)) {
    std::vector<dpo::PreferenceExample> pairs;
    for (int64_t i : batch) pairs.push_back(data.train[static_cast<size_t>(i)]);
    tokens += dpo::make_preference_batch(pairs, dpo::BatchLayout::kPadded, 0).real_tokens;
  }
  double wall2 = wall_seconds(), cpu2 = process_cpu_seconds();

  nlohmann::ordered_json result = {
      {"rows", rows},
      {"kept_rows", data.train_report.kept_rows},
      {"threads", threads},
      {"read_tokenize_rows_per_s", static_cast<double>(rows) / (wall1 - wall0)},
      {"batch_rows_per_s", static_cast<double>(rows) / (wall2 - wall1)},
      {"end_to_end_rows_per_s", static_cast<double>(rows) / (wall2 - wall0)},
      {"wall_s", wall2 - wall0},
      {"cpu_s", (cpu2 - cpu0)},
      {"real_tokens", tokens}};
  std::printf("%s\n", result.dump().c_str());
  std::remove(path.c_str());
  return 0;
}
