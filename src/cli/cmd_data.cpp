// `dpo data inspect FILE [--model DIR] [--max-length N] [--format F] [--json]`: how the data
// pipeline sees a preference or SFT dataset (data/inspect.h).
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "data/inspect.h"
#include "data/model_data.h"
#include "data/model_tokenizer.h"
#include "train/config.h"

namespace dpo::cli {
namespace {

int run_data_inspect(std::vector<std::string>& args) {
  CLI::App app{
      "Shows how the data pipeline reads a preference (or SFT) dataset: detected format, rows, "
      "invalid rows by reason, token-length percentiles of prompt, chosen and rejected (or "
      "completion), how many rows max_length would truncate or drop (with dpo train's defaults "
      "unless given), pairs whose chosen and rejected are identical, and two examples with the "
      "prompt/completion boundary marked. Without --model, lengths are in bytes."};
  // The defaults of `dpo train` (DPOConfig), so that the counts are what a run would see.
  const TrainConfig train_defaults = default_train_config(TrainMode::kPreference);
  DataOptions options;
  options.max_length = train_defaults.max_length.value_or(0);
  options.max_prompt_length = train_defaults.max_prompt_length.value_or(0);
  options.truncation_mode = train_defaults.truncation_mode;
  std::string file, model_dir;
  bool as_json = false;
  int examples = 2;
  app.add_option("FILE", file,
                 "dataset: .jsonl, .json (FILE.json:SPLIT), .gz, a directory, or a Hub dataset id "
                 "ORG/NAME[:SPLIT] in the local Hugging Face cache")
      ->required();
  accept_hub_id(app.add_option("--model", model_dir,
                               "model folder with tokenizer.json (token lengths, chat template), "
                               "or a Hub id ORG/NAME"));
  app.add_option("--max-length", options.max_length, "max_length to count truncated/dropped rows")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--max-prompt-length", options.max_prompt_length,
                 "max_prompt_length (0 = none; SFT data: none unless given)")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--max-completion-length", options.max_completion_length,
                 "max_completion_length (0 = none)")
      ->check(at_least(0));
  app.add_option("--truncation-mode", options.truncation_mode, "keep_start | keep_end")
      ->capture_default_str();
  add_dataset_reading_options(app, options);
  app.add_option("--examples", examples, "rendered examples to show")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_flag("--json", as_json, "print one JSON object instead of text");
  if (auto code = parse_args(app, args)) return *code;
  options.dataset = resolve_dataset_args({file}, "FILE");
  parse_truncation_mode(options.truncation_mode);      // fail early on a bad mode
  const bool unpaired = is_unpaired_dataset(options);  // KTO's prompt/completion/label rows
  const bool sft = !unpaired && is_sft_dataset(options);
  // SFTConfig and KTOConfig have no prompt limit: dpo sft's and dpo kto's default.
  if ((sft || unpaired) && app.count("--max-prompt-length") == 0) options.max_prompt_length = 0;
  auto inspect = [&](const TextEncoder& encoder, const ChatRenderer* renderer) {
    if (unpaired) return inspect_unpaired_data(options, encoder, renderer, examples);
    return sft ? inspect_sft_data(options, encoder, renderer, examples)
               : inspect_preference_data(options, encoder, renderer, examples);
  };

  InspectResult result;
  if (model_dir.empty()) {
    TextEncoder bytes = byte_encoder();
    ChatRenderer plain = plain_chat_renderer();
    result = inspect(bytes, &plain);
    result.length_unit = "bytes";
  } else {
    Tokenizer tokenizer = load_model_tokenizer(model_dir);
    ModelText text(tokenizer, options.chat_template);
    result = inspect(text.encoder, text.renderer_or_null());
  }
  if (as_json) {
    // the examples are decoded ids: without --model (bytes), or mid-character cuts, not UTF-8
    std::printf("%s\n", inspect_json(result)
                            .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                            .c_str());
  } else {
    std::printf("%s", inspect_text(result).c_str());
  }
  return 0;
}

}  // namespace

DPO_COMMAND("data inspect",
            "show a dataset's format, counts, token lengths, truncation and rendered examples",
            run_data_inspect);

}  // namespace dpo::cli
