// `dpo demo`: the built-in end-to-end example ("The capital of Ireland is" -> Dublin, not Cork).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "app/demo.h"
#include "cli/args.h"
#include "cli/command.h"
#include "util/error.h"
#include "util/log.h"

namespace dpo::cli {
namespace {

// assets/demo of the repository: --assets, else ./assets/demo, else next to the executable's
// source tree (build dir inside the repository).
std::filesystem::path find_assets(const std::string& given) {
  if (!given.empty()) return given;
  std::vector<std::filesystem::path> candidates = {"assets/demo"};
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path())
      candidates.push_back(dir / "assets/demo");
  for (const auto& candidate : candidates)
    if (std::filesystem::exists(candidate / "corpus.jsonl")) return candidate;
  throw_user_error(
      "demo assets not found: looked for assets/demo/corpus.jsonl in the current directory and "
      "above the dpo "
      "executable; run `dpo demo` from the repository root or pass --assets DIR");
}

int run_demo_command(std::vector<std::string>& args) {
  CLI::App app{
      "The built-in demo, on the CPU in about 15 seconds (2 idle cores), with nothing to download: "
      "a small Llama is "
      "trained "
      "from scratch (SFT) on a shipped corpus in which most capitals are stated right more often "
      "than wrong "
      "(Dublin vs Cork) and some misconceptions the other way round (Sydney vs Canberra); then DPO "
      "with LoRA "
      "on preference pairs for part of the facts, against the SFT model as the reference. Prints "
      "P(right) and "
      "P(wrong) per probe after SFT and after DPO, and leaves OUTPUT/{base,sft,dpo} (dpo: a full "
      "run folder "
      "with report.html).",
      args[0]};
  DemoOptions options;
  std::string output = "dpo-demo", assets;
  bool json = false;
  app.add_option("--output", output, "output folder")->capture_default_str();
  app.add_flag("--quick", options.quick, "fewer training steps, same code path (CI)");
  app.add_option("--seed", options.seed, "seed of weights, data order and LoRA init")
      ->capture_default_str();
  add_threads_option(app, options.threads);
  app.add_option("--assets", assets, "demo assets folder (default: the repository's assets/demo)");
  app.add_flag("--json", json,
               "print the probe table as JSON on stdout (progress stays on stderr)");
  if (auto code = parse_args(app, args)) return *code;

  options.output_dir = output;
  options.assets_dir = find_assets(assets);
  options.show_progress = !json;
  set_threads(options.threads);
  DemoResult result = run_demo(options);
  if (json)
    std::printf("%s\n", demo_report_json(result).c_str());
  else
    std::printf("%s", demo_report_text(result).c_str());
  return 0;
}

DPO_COMMAND("demo", "built-in example: SFT then DPO on Dublin vs Cork, on the CPU in seconds",
            run_demo_command);

}  // namespace
}  // namespace dpo::cli
