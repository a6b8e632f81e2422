// Keeps docs/errors.md true: every ```dpo-error block there is run through the dpo binary in a
// fresh folder holding its fixtures, and must exit with status 1 (or the block's `exit: N`, for
// warnings) printing the documented line.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct CatalogueEntry {
  std::vector<std::string> fixtures;
  std::string wrapper;        // a command in front of dpo ("prlimit --fsize=100000"), or ""
  std::string command;        // after "dpo"
  std::string expected;       // the stderr line
  bool unprivileged = false;  // `user: nobody`: run as an unprivileged user
  int status = 1;             // `exit: N`: a warning entry (the command goes on, exit 0)
  int line = 0;               // of the block in docs/errors.md
};

std::vector<CatalogueEntry> read_catalogue(const fs::path& path) {
  std::ifstream in(path);
  std::vector<CatalogueEntry> entries;
  std::string line;
  int line_number = 0;
  bool in_block = false;
  CatalogueEntry entry;
  while (std::getline(in, line)) {
    ++line_number;
    if (!in_block) {
      if (line == "```dpo-error") {
        in_block = true;
        entry = CatalogueEntry{};
        entry.line = line_number;
      }
      continue;
    }
    if (line == "```") {
      in_block = false;
      entries.push_back(entry);
    } else if (line.rfind("fixture: ", 0) == 0) {
      entry.fixtures.push_back(line.substr(9));
    } else if (line == "user: nobody") {
      entry.unprivileged = true;
    } else if (line.rfind("exit: ", 0) == 0) {
      entry.status = std::stoi(line.substr(6));
    } else if (line.rfind("$ ", 0) == 0) {
      // "$ dpo ARGS" or "$ WRAPPER dpo ARGS"; an empty command is flagged by ParsesEntries
      const std::string rest = line.substr(2);
      size_t dpo_at = rest.rfind("dpo ", 0) == 0 ? 0 : rest.find(" dpo ");
      if (dpo_at == std::string::npos) continue;
      if (dpo_at != 0) ++dpo_at;
      entry.wrapper = rest.substr(0, dpo_at);
      entry.command = rest.substr(dpo_at + 3);
    } else {
      entry.expected = line;
    }
  }
  return entries;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

const fs::path kFixtureModel = fs::path(DPO_FIXTURES) / "hf" / "llama" / "model";

// A model folder holding the given files of the fixture Llama.
void copy_model_files(const fs::path& dir, const std::vector<std::string>& names) {
  fs::create_directories(dir);
  for (const auto& name : names) fs::copy_file(kFixtureModel / name, dir / name);
}

// The first `bytes` bytes of the fixture Llama's weights.
void write_truncated_weights(const fs::path& file, size_t bytes) {
  std::ifstream in(kFixtureModel / "model.safetensors", std::ios::binary);
  std::string head(bytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(bytes));
  write_file(file, head);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Sets the first float of the tensor stored first in a safetensors file to NaN.
void poison_first_tensor(const fs::path& file) {
  std::string bytes = read_text(file);
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | static_cast<unsigned char>(bytes[i]);
  const float nan = std::nanf("");
  std::memcpy(bytes.data() + 8 + header, &nan, sizeof nan);
  write_file(file, bytes);
}

// Fixtures of the `dpo train` / `dpo sft` entries; false for an unknown name.
bool make_training_fixture(const std::string& name, const fs::path& dir) {
  const std::string good_pair = "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}\n";
  if (name == "tiny_run" || name == "tiny_run_local") {
    // tiny_run_local: a copy of the model in the folder, readable by any user
    const bool local = name == "tiny_run_local";
    if (local) fs::copy(kFixtureModel, dir / "model", fs::copy_options::recursive);
    write_file(dir / "tiny.yaml",
               "model_name_or_path: " + (local ? std::string("model") : kFixtureModel.string()) +
                   "\ndataset: pairs.jsonl\nmax_length: 64\nmax_steps: 1\n"
                   "output_dir: out\neval_prompts: []\n");
    fs::copy_file(fs::path(DPO_SOURCE_DIR) / "examples" / "data" / "tiny_pairs.jsonl",
                  dir / "pairs.jsonl");
  } else if (name == "kto_bad_label" || name == "kto_all_desirable") {
    write_file(dir / "kto.yaml", "model_name_or_path: " + kFixtureModel.string() +
                                     "\ndataset: kto.jsonl\nmax_length: 64\nmax_steps: 1\n"
                                     "output_dir: out\neval_prompts: []\n");
    const bool bad = name == "kto_bad_label";
    write_file(dir / "kto.jsonl",
               std::string("{\"prompt\": \"a\", \"completion\": \" b\", \"label\": true}\n") +
                   (bad ? "{\"prompt\": \"c\", \"completion\": \" d\", \"label\": \"yes\"}\n"
                        : "{\"prompt\": \"c\", \"completion\": \" d\", \"label\": true}\n"));
  } else if (name == "read_only_dir") {
    fs::create_directories(dir / "ro");
    fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec |
                                    fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
  } else if (name == "out_dir") {
    fs::create_directories(dir / "out");
  } else if (name == "bad_key_yaml") {
    write_file(dir / "bad_key.yaml", "model_name_or_path: model\ndataset: pairs.jsonl\nbta: 0.1\n");
  } else if (name == "config_json_dir") {
    copy_model_files(dir / "cfgdir", {"tokenizer.json"});
    fs::create_directories(dir / "cfgdir" / "config.json");
  } else if (name == "gemma_encoder" || name == "gemma_relu") {
    // a gemma3_text config of EmbeddingGemma's kind, or one with an activation dpo lacks
    const bool encoder = name == "gemma_encoder";
    const fs::path folder = dir / (encoder ? "embgemma" : "relugemma");
    copy_model_files(folder, {"tokenizer.json"});
    write_file(folder / "config.json",
               std::string("{\"model_type\": \"gemma3_text\", \"hidden_size\": 32, "
                           "\"intermediate_size\": 64, \"num_hidden_layers\": 2, "
                           "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                           "\"head_dim\": 8, \"vocab_size\": 32000, ") +
                   (encoder ? "\"use_bidirectional_attention\": true}\n"
                            : "\"hidden_activation\": \"relu\"}\n"));
  } else if (name == "phi_partial_rotary") {
    // Phi-4-mini's kind: RoPE on three quarters of each head
    copy_model_files(dir / "phi4", {"tokenizer.json"});
    write_file(dir / "phi4" / "config.json",
               "{\"model_type\": \"phi3\", \"hidden_size\": 32, \"intermediate_size\": 64, "
               "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": "
               "2, \"vocab_size\": 32000, \"partial_rotary_factor\": 0.75}\n");
  } else if (name == "model_no_config") {
    copy_model_files(dir / "nocfg", {"tokenizer.json"});
  } else if (name == "model_no_weights") {
    copy_model_files(dir / "nosafe", {"tokenizer.json", "config.json"});
  } else if (name == "truncated_safetensors") {
    copy_model_files(dir / "trunc", {"tokenizer.json", "config.json"});
    write_truncated_weights(dir / "trunc" / "model.safetensors", 3000);
  } else if (name == "short_safetensors") {
    copy_model_files(dir / "trunc2", {"tokenizer.json", "config.json"});
    write_truncated_weights(dir / "trunc2" / "model.safetensors", 4);
  } else if (name == "pairs_wrong_type") {
    write_file(dir / "bad_pairs.jsonl", good_pair + "{\"prompt\": \"x\", \"chosen\": 3}\n");
  } else if (name == "pairs_bad_json") {
    write_file(dir / "bad2.jsonl", good_pair + "not json\n");
  } else {
    return false;
  }
  return true;
}

// hub/: a Hugging Face cache (huggingface_hub's layout, refs/main naming one commit) holding the
// model Org/Tiny (links to the fixture Llama) and the datasets Org/Pairs (train.jsonl), Org/Parquet
// (data/train-00000-of-00001.parquet only) and Org/Notes (README.md only).
void make_hub_cache(const fs::path& dir) {
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  auto add = [&](const std::string& repo, const std::string& file, const fs::path* target) {
    const fs::path path = dir / "hub" / repo / "snapshots" / commit / file;
    fs::create_directories(path.parent_path());
    if (target)
      fs::create_symlink(*target, path);
    else
      write_file(path, "PAR1");
    write_file(dir / "hub" / repo / "refs" / "main", commit);
  };
  fs::create_directories(dir / "hub" / "models--Org--Tiny" / "refs");
  for (const auto& entry : fs::directory_iterator(kFixtureModel))
    add("models--Org--Tiny", entry.path().filename().string(), &entry.path());
  for (const char* repo :
       {"datasets--Org--Pairs", "datasets--Org--Parquet", "datasets--Org--Notes"})
    fs::create_directories(dir / "hub" / repo / "refs");
  const fs::path pairs = fs::path(DPO_SOURCE_DIR) / "examples" / "data" / "tiny_pairs.jsonl";
  add("datasets--Org--Pairs", "train.jsonl", &pairs);
  add("datasets--Org--Parquet", "data/train-00000-of-00001.parquet", nullptr);
  add("datasets--Org--Notes", "README.md", nullptr);
}

// Creates a named fixture of docs/errors.md in `dir`; false for an unknown name.
bool make_fixture(const std::string& name, const fs::path& dir) {
  if (name == "hub_cache") {
    make_hub_cache(dir);
  } else if (name == "empty_dir") {
    fs::create_directories(dir / "empty_dir");
  } else if (name == "tokenizer_json_dir") {
    fs::create_directories(dir / "tok_dir" / "tokenizer.json");
  } else if (name == "broken_tokenizer_json") {
    fs::create_directories(dir / "bad_tok");
    write_file(dir / "bad_tok" / "tokenizer.json", "{\"model\": \n");
  } else if (name == "empty_run") {
    fs::create_directories(dir / "run_empty");
  } else if (name == "broken_metrics") {
    fs::create_directories(dir / "run_bad");
    write_file(dir / "run_bad" / "metrics.jsonl", "{\"step\": 1, \"loss\": 0.5}\n{\"step\": \n");
  } else if (name == "rows_bad_json") {
    write_file(dir / "rows.jsonl", "{\"text\": \"a\"}\nnot json\n");
  } else if (name == "rows_wrong_type") {
    write_file(dir / "rows2.jsonl", "{\"text\": 3}\n");
  } else if (name == "plain_file") {
    write_file(dir / "a_file", "");
  } else if (name == "deep_json_row") {
    write_file(dir / "deep.jsonl",
               "{\"text\": " + std::string(100000, '[') + std::string(100000, ']') + "}\n");
  } else if (name == "deep_tokenizer_json") {
    fs::create_directories(dir / "deep_tok");
    write_file(dir / "deep_tok" / "tokenizer.json",
               "{\"model\": " + std::string(100000, '{') + std::string(100000, '}') + "}\n");
  } else if (name == "truncated_gz") {
    // the 16 pairs, gzip-compressed, less the last 8 bytes (the CRC-32 and length trailer)
    const fs::path whole = dir / "whole.jsonl.gz";
    gzFile gz = gzopen(whole.c_str(), "wb");
    const std::string text = read_text(fs::path(DPO_SOURCE_DIR) / "examples/data/tiny_pairs.jsonl");
    gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
    gzclose(gz);
    const std::string bytes = read_text(whole);
    write_file(dir / "cut.jsonl.gz", bytes.substr(0, bytes.size() - 8));
    fs::remove(whole);
  } else if (name == "same_pairs") {
    const std::string good_pair = "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}\n";
    write_file(dir / "same.jsonl",
               "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" b\"}\n" + good_pair +
                   "{\"prompt\": \"c\", \"chosen\": \" d\", \"rejected\": \" d\"}\n");
  } else if (name == "midword_pairs") {
    const std::string good_pair = "{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}\n";
    write_file(dir / "mid.jsonl",
               "{\"prompt\": \"I like ap\", \"chosen\": \"ricots a lot\", \"rejected\": "
               "\"ples\"}\n" +
                   good_pair);
  } else if (name == "model_no_tokenizer_config") {
    copy_model_files(dir / "notc", {"tokenizer.json"});
  } else if (name == "nan_adapter") {
    fs::copy(kFixtureModel.parent_path() / "adapter", dir / "nan_adapter",
             fs::copy_options::recursive);
    poison_first_tensor(dir / "nan_adapter" / "adapter_model.safetensors");
  } else if (name == "dup_key_yaml") {
    write_file(dir / "dup.yaml",
               "model_name_or_path: model\ndataset: pairs.jsonl\nbeta: 0.1\nbeta: 0.2\n");
  } else if (name == "broken_config") {
    fs::create_directories(dir / "run_cfg");
    write_file(dir / "run_cfg" / "metrics.jsonl", "{\"step\": 1, \"loss\": 0.5}\n");
    write_file(dir / "run_cfg" / "config.yaml", "beta: 0.1\nthis is no yaml\n");
  } else if (name == "lora_checkpoint") {
    // out/checkpoint-1 as far as the resume checks read it: the fixture adapter's config (r 4)
    fs::create_directories(dir / "out" / "checkpoint-1");
    fs::copy_file(kFixtureModel.parent_path() / "adapter" / "adapter_config.json",
                  dir / "out" / "checkpoint-1" / "adapter_config.json");
    write_file(dir / "out" / "checkpoint-1" / "trainer_state.json", "{}\n");
  } else if (name == "notes_dir") {
    fs::create_directories(dir / "notes");
    write_file(dir / "notes" / "todo.txt", "mine\n");
  } else if (name == "merge_inputs") {
    fs::copy(kFixtureModel, dir / "model", fs::copy_options::recursive);
    fs::copy(kFixtureModel.parent_path() / "adapter", dir / "adapter", fs::copy_options::recursive);
  } else {
    return make_training_fixture(name, dir);
  }
  return true;
}
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(ErrorsCatalogue, ParsesEntries) {
  const auto entries = read_catalogue(fs::path(DPO_SOURCE_DIR) / "docs" / "errors.md");
  ASSERT_GE(entries.size(), 30u);
  for (const auto& entry : entries) {
    EXPECT_FALSE(entry.command.empty()) << "docs/errors.md:" << entry.line;
    EXPECT_FALSE(entry.expected.empty()) << "docs/errors.md:" << entry.line;
  }
}

TEST(ErrorsCatalogue, EveryEntryGivesItsMessage) {
  const fs::path binary = DPO_BINARY;
  if (!fs::exists(binary)) GTEST_SKIP() << "no dpo binary at " << binary;
  const auto entries = read_catalogue(fs::path(DPO_SOURCE_DIR) / "docs" / "errors.md");
  const fs::path root = fs::temp_directory_path() / ("dpo-errors-" + std::to_string(::getpid()));
  for (size_t i = 0; i < entries.size(); ++i) {
    const CatalogueEntry& entry = entries[i];
    SCOPED_TRACE("docs/errors.md:" + std::to_string(entry.line) + ": dpo" + entry.command);
    const fs::path dir = root / std::to_string(i);
    fs::create_directories(dir);
    for (const auto& fixture : entry.fixtures) ASSERT_TRUE(make_fixture(fixture, dir)) << fixture;
    const std::string args = replace_all(entry.command, "$FIXTURES", DPO_FIXTURES);
    const std::string expected = replace_all(entry.expected, "$FIXTURES", DPO_FIXTURES);
    std::string program = "'" + binary.string() + "'";
    if (entry.unprivileged && ::geteuid() == 0) {
      // root writes anywhere: run as nobody, from a copy of the binary any user can execute (the
      // build folder may not be readable to others)
      fs::copy_file(binary, dir / "dpo");
      program = "setpriv --reuid=65534 --regid=65534 --clear-groups ./dpo";
    }
    const std::string shell = "cd '" + dir.string() + "' && " + entry.wrapper + program + args +
                              " >stdout.txt 2>stderr.txt";
    const int status = std::system(shell.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << "killed by a signal";
    EXPECT_EQ(WEXITSTATUS(status), entry.status);
    const auto stderr_lines = lines_of(dir / "stderr.txt");
    bool found = false;
    for (const auto& line : stderr_lines) found = found || line == expected;
    std::string all;
    for (const auto& line : stderr_lines) all += line + "\n";
    EXPECT_TRUE(found) << "expected: " << expected << "\ngot:\n" << all;
  }
  fs::remove_all(root);
}
