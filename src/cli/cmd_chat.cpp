// `dpo chat render --tokenizer DIR [--chat-template auto|NAME|FILE] (--file CASES.jsonl |
// --print-template)`: a chat template rendered as dpo renders it (transformers'
// apply_chat_template(tokenize=False)), for each {"messages": [...], "add_generation_prompt": b,
// "variables": {...}} record: one {"text": "..."} or {"error": "..."} line each. Used by
// tests/parity/chat_template_diff.py; also handy to see what a recipe's template makes of data.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "chat/chat_template.h"
#include "cli/args.h"
#include "cli/command.h"
#include "data/model_data.h"
#include "data/model_tokenizer.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

namespace dpo::cli {
namespace {

struct ChatRenderOptions {
  std::string tokenizer_dir, chat_template = "auto", file;
  bool print_template = false;
};

// The source of the template --chat-template names (what resolve_chat_template parses).
std::string template_source(const std::string& choice, const Tokenizer& tokenizer) {
  if (choice.empty() || choice == "auto") return tokenizer.chat_template();
  if (is_builtin_chat_template(choice)) return builtin_chat_template(choice);
  return read_file(choice);
}

int run_chat_render(std::vector<std::string>& args) {
  CLI::App app{
      "Renders chat messages with a chat template as dpo train does (transformers' "
      "apply_chat_template, tokenize=False): one {\"text\": ...} (or {\"error\": ...}) line per "
      "{\"messages\": [...], \"add_generation_prompt\": false, \"variables\": {...}} record."};
  ChatRenderOptions o;
  accept_hub_id(app.add_option("--tokenizer", o.tokenizer_dir,
                               "folder with tokenizer.json (and tokenizer_config.json), a GGUF "
                               "model file, or a Hub id ORG/NAME"))
      ->required();
  app.add_option("--chat-template", o.chat_template,
                 "auto (the tokenizer's) | llama-2 | zephyr | chatml | llama-3 | FILE")
      ->capture_default_str();
  auto* file = app.add_option("--file", o.file, "JSON lines, one record per line");
  auto* print = app.add_flag("--print-template", o.print_template,
                             "print the template's source instead of rendering");
  file->excludes(print);
  if (auto code = parse_args(app, args)) return *code;
  if (!file->count() && !o.print_template)
    throw_user_error("dpo chat render: give --file CASES.jsonl or --print-template");
  Tokenizer tokenizer = load_model_tokenizer(o.tokenizer_dir);
  const std::string source = template_source(o.chat_template, tokenizer);
  if (source.empty())
    throw_user_error(
        "{}: tokenizer_config.json has no chat_template (choose one with "
        "--chat-template)",
        o.tokenizer_dir);
  if (o.print_template) {
    std::fwrite(source.data(), 1, source.size(), stdout);
    return 0;
  }
  const ChatTemplate chat_template(source);
  std::ifstream in(o.file, std::ios::binary);
  if (!in) throw_user_error("{}: cannot open the file", o.file);
  std::string line, out;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    // ordered: tojson writes keys in the file's order
    const nlohmann::ordered_json record =
        parse_ordered_json(line, fmt::format("{}:{}", o.file, line_number));
    if (!record.is_object() || !record.contains("messages"))
      throw_user_error("{}:{}: expected {{\"messages\": [...], ...}}", o.file, line_number);
    const bool add_generation_prompt = record.value("add_generation_prompt", false);
    const nlohmann::ordered_json variables =
        record.contains("variables") ? record["variables"] : nlohmann::ordered_json::object();
    nlohmann::ordered_json result = nlohmann::ordered_json::object();
    try {
      result["text"] = chat_template.apply(record["messages"], add_generation_prompt,
                                           tokenizer.bos_token(), tokenizer.eos_token(), variables);
    } catch (const std::exception& e) {  // raise_exception, undefined variables, type errors
      result["error"] = e.what();
    }
    out += result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

DPO_COMMAND("chat render", "render chat messages with a chat template (JSON lines in and out)",
            run_chat_render);

}  // namespace dpo::cli
