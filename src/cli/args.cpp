#include "cli/args.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include "data/pipeline.h"
#include "io/hub_cache.h"
#include "util/error.h"

namespace dpo::cli {

std::optional<int> parse_args(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::CallForVersion&) {
    return 0;
  } catch (const CLI::ParseError& e) {
    throw_user_error("{}: {} (see `{} --help`)", args.empty() ? "dpo" : args[0], e.what(),
                     args.empty() ? "dpo" : args[0]);
  }
  return std::nullopt;
}

CLI::Option* accept_hub_id(CLI::Option* option, const CLI::Option* revision) {
  const std::string flag = option->get_name();
  option->transform(CLI::Validator(
      [flag, revision](std::string& value) {
        // --revision's raw text: options are converted in their order, this one may come first
        const bool given = revision && !revision->results().empty();
        value = resolve_hub_model(value, flag, given ? revision->results().back() : "main");
        return std::string();
      },
      ""));
  return option;
}

std::vector<std::string> resolve_dataset_args(const std::vector<std::string>& specs,
                                              const std::string& flag) {
  std::vector<std::string> files;
  for (const std::string& spec : specs)
    for (std::string& file : resolve_hub_dataset(spec, flag)) files.push_back(std::move(file));
  return files;
}

void add_model_options(CLI::App& app, std::string& model_dir, std::string& adapter_dir,
                       const std::string& adapter_help, bool adapter_required,
                       const std::string& model_help) {
  CLI::Option* model = app.add_option(
      "--model", model_dir,
      model_help.empty() ? "model folder (config.json, *.safetensors, tokenizer.json) or a Hub "
                           "id ORG/NAME in the local Hugging Face cache"
                         : model_help);
  model->required();
  CLI::Option* revision =
      app.add_option("--revision",
                     "--model as a Hub id: a branch or tag of its cache (refs/), or a commit hash "
                     "(default main)")
          ->type_name("REV");
  accept_hub_id(model, revision);
  CLI::Option* adapter = app.add_option("--adapter", adapter_dir, adapter_help);
  accept_hub_id(adapter);
  if (adapter_required) adapter->required();
}

void add_dataset_reading_options(CLI::App& app, DataOptions& options) {
  app.add_option("--format", options.dataset_format,
                 "auto | standard | conversational | implicit | hh | pretokenized")
      ->capture_default_str();
  app.add_flag("--hh-to-messages", options.hh_to_messages,
               "hh: turn the dialogue into chat messages and apply the chat template");
  app.add_option("--chat-template", options.chat_template,
                 "auto (the tokenizer's) | llama-2 | zephyr | chatml | llama-3 | FILE")
      ->capture_default_str();
  app.add_option("--max-rows", options.max_rows, "read at most N rows (0 = all)")
      ->check(at_least(0));
}

void add_threads_option(CLI::App& app, int64_t& threads) {
  app.add_option("--threads", threads, "CPU threads (0: every core)")
      ->check(at_least(0))
      ->capture_default_str();
}

namespace {

// `range` is "" for any finite number.
CLI::Validator number_check(const std::string& range, std::function<bool(double)> ok) {
  return CLI::Validator(
      [range, ok](std::string& text) -> std::string {
        const char* begin = text.c_str();
        char* end = nullptr;
        errno = 0;
        const double value = std::strtod(begin, &end);
        const bool number = end != begin && *end == '\0';
        if (number && std::isfinite(value) && errno != ERANGE && ok(value)) return "";
        if (!number) return "";  // not a number at all: CLI11's conversion says so
        return fmt::format("must be a {}number{}{} (got {})", range.empty() ? "finite " : "",
                           range.empty() ? "" : " ", range, text);
      },
      range.empty() ? "NUMBER" : range);
}

std::string bound(double value) {
  return fmt::format("{}", value);
}

}  // namespace

CLI::Validator at_least(double min) {
  return number_check(">= " + bound(min), [min](double v) { return v >= min; });
}
CLI::Validator greater_than(double min) {
  return number_check("> " + bound(min), [min](double v) { return v > min; });
}
CLI::Validator in_closed(double low, double high) {
  return number_check(fmt::format("in [{}, {}]", bound(low), bound(high)),
                      [=](double v) { return v >= low && v <= high; });
}
CLI::Validator in_half_open(double low, double high) {
  return number_check(fmt::format("in [{}, {})", bound(low), bound(high)),
                      [=](double v) { return v >= low && v < high; });
}
CLI::Validator in_open_closed(double low, double high) {
  return number_check(fmt::format("in ({}, {}]", bound(low), bound(high)),
                      [=](double v) { return v > low && v <= high; });
}
CLI::Validator finite_number() {
  return number_check("", [](double) { return true; });
}

}  // namespace dpo::cli
