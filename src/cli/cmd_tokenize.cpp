// `dpo tokenize --tokenizer DIR (TEXT | --file FILE.jsonl) [--no-special] [--pieces] [--decode]`:
// token ids of a text, or of every {"text": ...} record of a JSON-lines file, one {"ids": [...]}
// line each.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "data/model_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/json.h"

namespace dpo::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer_dir, text, file;
  bool no_special = false, pieces = false, decode = false;
};

std::string ids_line(const Tokenizer& tokenizer, const TokenIds& ids,
                     const TokenizeOptions& options) {
  std::string line = "{\"ids\": [";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ", ";
    line += std::to_string(ids[i]);
  }
  line += "]";
  const auto dump = [](const nlohmann::json& value) {
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  if (options.pieces) line += ", \"tokens\": " + dump(tokenizer.tokens(ids));
  if (options.decode) {
    line += ", \"decoded\": " + dump(tokenizer.decode(ids, /*skip_special_tokens=*/false));
    line += ", \"decoded_skip_special\": " + dump(tokenizer.decode(ids, true));
  }
  line += "}\n";
  return line;
}

// The "text" of one JSON-lines record; UserError naming FILE:LINE otherwise.
std::string record_text(const std::string& line, const std::string& file, size_t line_number) {
  nlohmann::json record = parse_json(line, fmt::format("{}:{}", file, line_number));
  if (!record.is_object() || !record.contains("text") || !record["text"].is_string())
    throw_user_error("{}:{}: expected a record {{\"text\": \"...\"}}, got {}", file, line_number,
                     record.dump().substr(0, 80));
  return record["text"].get<std::string>();
}

void tokenize_file(const Tokenizer& tokenizer, const TokenizeOptions& options) {
  std::ifstream in(options.file, std::ios::binary);
  if (!in) throw_user_error("{}: cannot open the file", options.file);
  constexpr size_t kChunk = 4096;  // records encoded together (encode_batch uses every core)
  std::vector<std::string> texts;
  std::string line;
  size_t line_number = 0;
  auto flush = [&] {
    auto all = tokenizer.encode_batch(texts, !options.no_special);
    std::string out;
    for (const auto& ids : all) out += ids_line(tokenizer, ids, options);
    std::fwrite(out.data(), 1, out.size(), stdout);
    texts.clear();
  };
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    texts.push_back(record_text(line, options.file, line_number));
    if (texts.size() == kChunk) flush();
  }
  flush();
  std::fflush(stdout);
}

int run_tokenize(std::vector<std::string>& args) {
  CLI::App app{
      "Token ids of TEXT, or of each {\"text\": ...} record of a JSON-lines file, as Hugging Face "
      "tokenizers gives them. One {\"ids\": [...]} line per text (plus \"tokens\" with --pieces)."};
  TokenizeOptions options;
  accept_hub_id(app.add_option("--tokenizer", options.tokenizer_dir,
                               "folder with tokenizer.json (and tokenizer_config.json), a GGUF "
                               "model file, or a Hub id ORG/NAME"))
      ->required();
  auto* text = app.add_option("TEXT", options.text, "the text to tokenize");
  auto* file =
      app.add_option("--file", options.file, "JSON lines, one {\"text\": \"...\"} per line");
  text->excludes(file);
  app.add_flag("--no-special", options.no_special,
               "do not add the special tokens of the post-processor (BOS)");
  app.add_flag("--pieces", options.pieces, "also print the token strings");
  app.add_flag("--decode", options.decode,
               "also print decode(ids) as \"decoded\" and, with skip_special_tokens, as "
               "\"decoded_skip_special\"");
  if (auto code = parse_args(app, args)) return *code;
  if (text->count() == 0 && file->count() == 0)
    throw_user_error("dpo tokenize: give a TEXT or --file FILE.jsonl (see `dpo tokenize --help`)");
  Tokenizer tokenizer = load_model_tokenizer(options.tokenizer_dir);
  if (file->count()) {
    tokenize_file(tokenizer, options);
  } else {
    std::string line =
        ids_line(tokenizer, tokenizer.encode(options.text, !options.no_special), options);
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  return 0;
}

}  // namespace

DPO_COMMAND("tokenize", "token ids of a text or a JSON-lines file (Hugging Face tokenizer.json)",
            run_tokenize);

}  // namespace dpo::cli
