// generations.jsonl: the answers to `eval_prompts`, written by the trainer before and after
// training and shown side by side in report.html.
//
// One JSON object per line, one line per prompt per phase:
//   {"phase": "before", "prompt": "The capital of Ireland is", "completion": " Dublin.", "step": 0}
//   {"phase": "after",  "prompt": "The capital of Ireland is", "completion": " Dublin.", "step":
//   120}
// phase      string, required: "before" (the model before training, i.e. the reference) or "after"
//            (at the end of training); other names (e.g. "step-500") are allowed and become extra
//            columns in the report, in the order they first appear.
// prompt     string, required: the prompt as the user wrote it (before any chat template).
// completion string, required: the generated text only (without the prompt).
// step       integer, optional: the optimizer step the answer was generated at.
// Other keys are ignored by the reader (room for e.g. "chat": true or sampling settings).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/fs.h"

namespace dpo::report {

inline constexpr const char* kGenerationsFileName = "generations.jsonl";

struct Generation {
  std::string phase;
  std::string prompt;
  std::string completion;
  std::optional<int64_t> step;
};

std::string generation_to_json(const Generation& generation);
// Removes OUTPUT_DIR/generations.jsonl (a fresh run; a resumed one keeps its "before" answers).
void clear_generations(const fs::path& output_dir);
// Appends one line to OUTPUT_DIR/generations.jsonl.
void append_generation(const fs::path& output_dir, const Generation& generation);
// Reads every line; a malformed line is a UserError naming path:line.
std::vector<Generation> read_generations(const fs::path& path);
// The same for text in memory; `name` stands for the path in messages.
std::vector<Generation> parse_generations_text(const std::string& text, const std::string& name);

// Generations grouped for display: prompts in first-appearance order, phases as columns.
struct GenerationTable {
  std::vector<std::string> phases;   // "before", "after", then others by first appearance
  std::vector<std::string> prompts;  // first-appearance order
  // cells[prompt][phase]: the completion, or nullopt when that phase has no answer for it.
  std::vector<std::vector<std::optional<std::string>>> cells;
};
GenerationTable tabulate_generations(const std::vector<Generation>& generations);

}  // namespace dpo::report
