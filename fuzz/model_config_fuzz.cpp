// libFuzzer target for ModelConfig::from_json_text (a model folder's config.json). Every input
// must give a config or raise dpo::UserError; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/model_config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    dpo::ModelConfig config = dpo::ModelConfig::from_json_text(text, "config.json");
    // What the config writes must read back.
    dpo::ModelConfig again = dpo::ModelConfig::from_json_text(config.to_json_text(), "again");
    if (again.to_json_text() != config.to_json_text()) std::abort();
  } catch (const dpo::UserError&) {
  }
  return 0;
}
