// `dpo data tokenize FILE --model DIR --output OUT.jsonl`: a preference dataset's token ids as
// the pipeline makes them (format detection, prompt extraction, chat template, EOS, TRL 1.16's
// prompt/completion split), before truncation, one pretokenized row per kept row, in order:
// {"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]}. The file reads back as
// `dataset_format: pretokenized` (tokenize once, train many times) and is what
// tests/parity/trl_tokenize.py compares with TRL's own tokenization.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "data/inspect.h"
#include "data/model_data.h"
#include "data/model_tokenizer.h"
#include "data/pipeline.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/output_guard.h"

namespace dpo::cli {
namespace {

namespace fs = std::filesystem;

// A new file (or, with --overwrite, any file), never a folder nor one of the inputs.
void check_tokenize_output(const std::string& output, const std::string& dataset,
                           const std::string& model_dir, bool overwrite) {
  if (fs::is_directory(output))
    throw_user_error("--output {} is a folder; give the path of the .jsonl file to write", output);
  check_output_apart(output, "--output",
                     {{dataset, "dataset", "FILE", fs::is_directory(dataset)},
                      {model_dir, "model", "--model", true}},
                     "write it elsewhere");
  if (fs::exists(output) && !overwrite)
    throw_user_error("--output {} exists; pass --overwrite to replace it", output);
}

std::string pretokenized_jsonl(const std::vector<PreferenceExample>& examples) {
  std::string out;
  for (const PreferenceExample& e : examples) {
    nlohmann::ordered_json row;
    row["prompt_ids"] = e.prompt_ids;
    row["chosen_ids"] = e.chosen_ids;
    row["rejected_ids"] = e.rejected_ids;
    out += row.dump() + "\n";
  }
  return out;
}

int run_data_tokenize(std::vector<std::string>& args) {
  CLI::App app{
      "Writes a preference dataset's token ids as dpo train makes them (format detection, prompt "
      "extraction, chat template, EOS, the prompt/completion split), before truncation: one "
      "{prompt_ids, chosen_ids, rejected_ids} row per row, in order, readable as "
      "dataset_format: pretokenized."};
  DataOptions options;
  options.max_length = 0;  // no truncation: what the rows tokenize to
  std::string file, model_dir, output;
  bool overwrite = false;
  app.add_option("FILE", file,
                 "dataset: .jsonl, .json (FILE.json:SPLIT), .gz, a directory, or a Hub dataset id "
                 "ORG/NAME[:SPLIT] in the local Hugging Face cache")
      ->required();
  accept_hub_id(app.add_option("--model", model_dir,
                               "model folder with tokenizer.json (and its chat template), or a "
                               "Hub id ORG/NAME"))
      ->required();
  app.add_option("--output", output, "the .jsonl file to write")->required();
  add_dataset_reading_options(app, options);
  app.add_flag("--overwrite", overwrite, "replace --output if it exists");
  if (auto code = parse_args(app, args)) return *code;
  options.dataset = resolve_dataset_args({file}, "FILE");
  check_tokenize_output(output, file, model_dir, overwrite);
  if (is_unpaired_dataset(options) || is_sft_dataset(options))
    throw_user_error(
        "{}: SFT and unpaired (KTO) rows have no pretokenized format; dpo data tokenize "
        "writes preference pairs (dpo data inspect shows how those rows tokenize)",
        file);
  Tokenizer tokenizer = load_model_tokenizer(model_dir);
  ModelText text(tokenizer, options.chat_template);
  DataReport report;
  const std::vector<PreferenceExample> examples = read_preference_examples(
      options.dataset, options, text.encoder, text.renderer_or_null(), report);
  write_file_atomic(output, pretokenized_jsonl(examples));
  std::fprintf(stderr, "%s\nwrote %zu rows to %s\n", report.summary().c_str(), examples.size(),
               output.c_str());
  return 0;
}

}  // namespace

DPO_COMMAND("data tokenize",
            "write a preference dataset's token ids (pretokenized rows) as dpo train makes them",
            run_data_tokenize);

}  // namespace dpo::cli
