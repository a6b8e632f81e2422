#include "cli/args.h"

#include <cstdio>

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

void add_model_options(CLI::App& app, std::string& model_dir, std::string& adapter_dir,
                       const std::string& adapter_help, bool adapter_required) {
  app.add_option("--model", model_dir, "model folder (config.json, *.safetensors, tokenizer.json)")
      ->required();
  CLI::Option* adapter = app.add_option("--adapter", adapter_dir, adapter_help);
  if (adapter_required) adapter->required();
}

}  // namespace dpo::cli
