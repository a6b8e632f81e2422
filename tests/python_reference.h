// The PyPI references (transformers, peft, trl, tokenizers, gguf) for tests that compare with
// them. They run from the project venv (scripts/setup.sh; CMake's DPO_PYTHON). A test that needs
// them calls DPO_REQUIRE_PYTHON_MODULES("transformers", "peft"): it skips with the reason when the
// interpreter or a module is missing, and fails instead when CI=true (CI must not skip them).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>

namespace dpo::testing {

inline const char* python_interpreter() { return DPO_PYTHON; }

inline bool running_under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) != "" && std::string(ci) != "0" &&
         std::string(ci) != "false";
}

// Empty when every module imports; otherwise why not.
inline std::string missing_python_modules(std::initializer_list<const char*> modules) {
  if (!std::filesystem::exists(DPO_PYTHON))
    return std::string("no Python at ") + DPO_PYTHON + " (run scripts/setup.sh)";
  std::string missing;
  for (const char* module : modules) {
    std::string command = std::string("'") + DPO_PYTHON + "' -c 'import " + module + "' >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) missing += std::string(missing.empty() ? "" : ", ") + module;
  }
  return missing.empty() ? "" : "Python modules missing in " + std::string(DPO_PYTHON) + ": " + missing +
                                    " (run scripts/setup.sh)";
}

}  // namespace dpo::testing

// Skips the test (fails it under CI) unless every named module imports in DPO_PYTHON.
#define DPO_REQUIRE_PYTHON_MODULES(...)                                                    \
  do {                                                                                     \
    std::string dpo_missing_ = ::dpo::testing::missing_python_modules({__VA_ARGS__});     \
    if (!dpo_missing_.empty()) {                                                           \
      if (::dpo::testing::running_under_ci()) FAIL() << dpo_missing_;                      \
      GTEST_SKIP() << dpo_missing_;                                                        \
    }                                                                                      \
  } while (0)
