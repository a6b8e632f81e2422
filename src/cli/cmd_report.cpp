// `dpo report RUN_DIR`: (re)writes RUN_DIR/report.html from the run folder's files.
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "report/html_report.h"
#include "util/output_guard.h"

namespace dpo::cli {
namespace {

int run_report(std::vector<std::string>& args) {
  CLI::App app{
      "Writes RUN_DIR/report.html: run summary, training curves (SVG) and before/after "
      "generations, from "
      "metrics.jsonl, config.yaml and generations.jsonl. One self-contained file: no network "
      "needed to view it."};
  std::string run_dir;
  app.add_option("RUN_DIR", run_dir, "run folder written by `dpo train` or `dpo sft` (output_dir)")
      ->required();
  if (auto code = parse_args(app, args)) return *code;
  const InterruptCleanup interrupt_cleanup;  // Ctrl-C: no report.html.tmp.PID left behind
  fs::path written = report::write_report(run_dir);
  std::printf("wrote %s\n", written.string().c_str());
  return 0;
}

}  // namespace

DPO_COMMAND("report", "write RUN_DIR/report.html (charts, summary, before/after answers)",
            run_report);

}  // namespace dpo::cli
