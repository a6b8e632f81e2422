// libFuzzer target: the report's text parsers (metrics.jsonl, generations.jsonl, config.yaml
// lines) and the page built from what they accept. Any input must either parse or raise
// dpo::UserError; nothing else may escape, crash or trip a sanitizer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "report/config_text.h"
#include "report/generations.h"
#include "report/html_report.h"
#include "report/metrics_log.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  dpo::report::RunData run;
  run.name = "fuzz";
  run.has_config = true;
  run.config = dpo::report::parse_config_text(text);
  try {
    run.metrics = dpo::report::parse_metrics_text(text, "metrics.jsonl");
    for (const auto& row : run.metrics) {
      // What the reader accepts, the writer writes back to the same values.
      auto again = dpo::report::parse_metrics_line(dpo::report::metrics_row_to_json(row), "again");
      if (again.step != row.step || again.values.size() != row.values.size()) __builtin_trap();
    }
  } catch (const dpo::UserError&) {
  }
  try {
    run.generations = dpo::report::parse_generations_text(text, "generations.jsonl");
  } catch (const dpo::UserError&) {
  }
  (void)dpo::report::render_report(run);
  return 0;
}
