// `dpo data inspect FILE [--model DIR] [--max-length N] [--format F] [--json]`: how the data
// pipeline sees a preference dataset (data/inspect.h).
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "data/inspect.h"
#include "data/model_data.h"
#include "data/model_tokenizer.h"

namespace dpo::cli {
namespace {

int run_data_inspect(std::vector<std::string>& args) {
  CLI::App app{
      "Shows how the data pipeline reads a preference dataset: detected format, rows, invalid "
      "rows by reason, token-length percentiles of prompt, chosen and rejected, how many rows "
      "max_length would truncate or drop, and two examples with the prompt/completion boundary "
      "marked. Without --model, lengths are in bytes."};
  DataOptions options;
  std::string file, model_dir;
  bool as_json = false;
  int examples = 2;
  app.add_option("FILE", file, "dataset: .jsonl, .json (FILE.json:SPLIT), .gz, or a directory")
      ->required();
  app.add_option("--model", model_dir,
                 "model folder with tokenizer.json (token lengths, chat template)");
  app.add_option("--max-length", options.max_length, "max_length to count truncated/dropped rows")
      ->capture_default_str();
  app.add_option("--max-prompt-length", options.max_prompt_length, "max_prompt_length (0 = none)");
  app.add_option("--max-completion-length", options.max_completion_length,
                 "max_completion_length (0 = none)");
  app.add_option("--truncation-mode", options.truncation_mode, "keep_start | keep_end")
      ->capture_default_str();
  app.add_option("--format", options.dataset_format,
                 "auto | standard | conversational | implicit | hh | pretokenized")
      ->capture_default_str();
  app.add_flag("--hh-to-messages", options.hh_to_messages,
               "hh: turn the dialogue into chat messages and apply the chat template");
  app.add_option("--chat-template", options.chat_template,
                 "auto (the tokenizer's) | llama-2 | zephyr | chatml | llama-3 | FILE")
      ->capture_default_str();
  app.add_option("--max-rows", options.max_rows, "read at most N rows (0 = all)");
  app.add_option("--examples", examples, "rendered examples to show")->capture_default_str();
  app.add_flag("--json", as_json, "print one JSON object instead of text");
  if (auto code = parse_args(app, args)) return *code;
  options.dataset = {file};
  parse_truncation_mode(options.truncation_mode);  // fail early on a bad mode

  InspectResult result;
  if (model_dir.empty()) {
    TextEncoder bytes = byte_encoder();
    ChatRenderer plain = plain_chat_renderer();
    result = inspect_preference_data(options, bytes, &plain, examples);
    result.length_unit = "bytes";
  } else {
    Tokenizer tokenizer = load_model_tokenizer(model_dir);
    ModelText text(tokenizer, options.chat_template);
    result = inspect_preference_data(options, text.encoder, text.renderer_or_null(), examples);
  }
  if (as_json) {
    std::printf("%s\n", inspect_json(result).dump(2).c_str());
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
