// Helpers for the data tests: a toy byte-level encoder with HF-like special tokens, temp files.
#pragma once
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "data/tokenize.h"
#include "util/error.h"

namespace dpo::testing {

namespace fs = std::filesystem;

// Byte b -> id b + 10; "<s>" -> 1 and "</s>" -> 2 wherever they appear (as HF matches special
// tokens in text); add_special_tokens prepends BOS 1.
inline TextEncoder toy_encoder() {
  TextEncoder e;
  e.encode = [](const std::string& text, bool add_special) {
    TokenIds ids;
    if (add_special) ids.push_back(1);
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, 3, "<s>") == 0) {
        ids.push_back(1);
        i += 3;
      } else if (text.compare(i, 4, "</s>") == 0) {
        ids.push_back(2);
        i += 4;
      } else {
        ids.push_back(static_cast<unsigned char>(text[i]) + 10);
        ++i;
      }
    }
    return ids;
  };
  e.bos_token = "<s>";
  e.eos_token = "</s>";
  e.eos_id = 2;
  e.vocab_size = 266;
  return e;
}

// Toy ids of plain text (no specials).
inline TokenIds toy_ids(const std::string& text) {
  return toy_encoder().encode(text, false);
}

// "<role>content</s>" per message, "<assistant>" as generation prompt.
inline ChatRenderer toy_renderer() {
  return [](const RowJson& messages, bool add_generation_prompt) {
    std::string out = "<s>";
    for (const auto& m : messages)
      out += "[" + m["role"].get<std::string>() + "]" + m["content"].get<std::string>() + "</s>";
    if (add_generation_prompt) out += "[assistant]";
    return out;
  };
}

inline fs::path temp_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("dpo_data_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline fs::path write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return path;
}

inline fs::path write_gzip(const fs::path& path, const std::string& text) {
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, text.data(), static_cast<unsigned>(text.size()));
  gzclose(file);
  return path;
}

// The message of the UserError `fn` throws ("" when it throws none).
template <typename Fn>
std::string user_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace dpo::testing
