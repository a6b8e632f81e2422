// Hub ids in the local Hugging Face cache (see hub_cache.h for the rules).
#include "io/hub_cache.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "util/error.h"
#include "util/strings.h"

namespace dpo {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- the cache root

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (!value) return std::nullopt;
  return std::string(value);
}

// Python's os.path.join for two parts.
std::string path_join(const std::string& a, const std::string& b) {
  if (!b.empty() && b[0] == '/') return b;
  if (a.empty() || a.back() == '/') return a + b;
  return a + "/" + b;
}

// Python's os.path.expanduser: ~ is $HOME (else the passwd entry), ~user that user's home.
std::string expand_user(const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  size_t end = path.find('/', 1);
  if (end == std::string::npos) end = path.size();
  std::string home;
  if (end == 1) {
    if (auto value = env("HOME")) {
      home = *value;
    } else if (const passwd* entry = getpwuid(getuid())) {
      home = entry->pw_dir;
    } else {
      return path;
    }
  } else {
    const passwd* entry = getpwnam(path.substr(1, end - 1).c_str());
    if (!entry) return path;
    home = entry->pw_dir;
  }
  while (!home.empty() && home.back() == '/') home.pop_back();
  std::string result = home + path.substr(end);
  return result.empty() ? "/" : result;
}

bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Python's os.path.expandvars: $NAME and ${NAME} of set variables replaced, the rest kept.
std::string expand_vars(const std::string& path) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] != '$') {
      out += path[i++];
      continue;
    }
    size_t end = i + 1;
    std::string name;
    if (end < path.size() && path[end] == '{') {
      size_t close = path.find('}', end + 1);
      if (close == std::string::npos) {
        out += path[i++];
        continue;
      }
      name = path.substr(end + 1, close - end - 1);
      end = close + 1;
    } else {
      while (end < path.size() && is_word_char(path[end])) ++end;
      name = path.substr(i + 1, end - i - 1);
      if (name.empty()) {
        out += path[i++];
        continue;
      }
    }
    auto value = name.empty() ? std::nullopt : env(name.c_str());
    out += value ? *value : path.substr(i, end - i);
    i = end;
  }
  return out;
}

std::string expand(const std::string& path) {
  return expand_vars(expand_user(path));
}

// ---------------------------------------------------------------- repository ids

// One part of an id: 1-96 of [A-Za-z0-9_.-], a word character at both ends (the regex's \b).
bool is_repo_id_part(const std::string& part) {
  if (part.empty() || part.size() > 96) return false;
  for (char c : part)
    if (!is_word_char(c) && c != '-' && c != '.') return false;
  return is_word_char(part.front()) && is_word_char(part.back());
}

const char* type_word(HubRepoType type) {
  return type == HubRepoType::kModel ? "model" : "dataset";
}

std::string download_command(const std::string& id, HubRepoType type, const std::string& rev) {
  std::string command = "hf download " + id;
  if (type == HubRepoType::kDataset) command += " --repo-type dataset";
  if (rev != "main") command += " --revision " + rev;
  return command;
}

// The UserError of an id the cache lacks: no such repository, or not at that revision.
[[noreturn]] void throw_not_cached(const std::string& where, const std::string& id,
                                   HubRepoType type, const std::string& revision) {
  const fs::path root = hub_cache_root();
  const char* what = type_word(type);
  if (fs::is_directory(hub_repo_folder(root, id, type)))
    throw_user_error(
        "{}: {}: the Hugging Face cache {} holds this {} but not its revision '{}' (dpo reads the "
        "cache offline); fetch it with `{}`",
        where, id, root.string(), what, revision, download_command(id, type, revision));
  throw_user_error(
      "{}: {}: no such local path, and no Hub {} of that id in the Hugging Face cache {} (dpo "
      "reads the cache offline); fetch it with `{}`",
      where, id, what, root.string(), download_command(id, type, revision));
}

std::string read_ref(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return trim(text.str());  // the Hub writes the bare hash; a hand-made newline is forgiven
}

// ---------------------------------------------------------------- dataset files

bool is_json_data_file(const std::string& name) {
  return ends_with(name, ".jsonl") || ends_with(name, ".json") || ends_with(name, ".jsonl.gz") ||
         ends_with(name, ".json.gz");
}

bool is_data_file(const std::string& name) {
  return is_json_data_file(name) || ends_with(name, ".parquet");
}

// `datasets` leaves out hidden files and folders (".cache") and special ones ("__pycache__").
bool is_hidden_name(const std::string& name) {
  return starts_with(name, ".") || starts_with(name, "__");
}

// Words of a path part: split by datasets' non-word characters "-._ 0-9".
std::vector<std::string> words_of(const std::string& part) {
  std::vector<std::string> words;
  std::string word;
  for (char c : part) {
    if (c == '-' || c == '.' || c == '_' || c == ' ' ||
        std::isdigit(static_cast<unsigned char>(c))) {
      if (!word.empty()) words.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

// The split a keyword names (datasets' SPLIT_KEYWORDS), "" for none.
std::string split_of_word(const std::string& word) {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> keywords = {
      {"train", {"train", "training"}},
      {"validation", {"validation", "valid", "dev", "val"}},
      {"test", {"test", "testing", "eval", "evaluation"}},
  };
  for (const auto& [split, names] : keywords)
    if (std::find(names.begin(), names.end(), word) != names.end()) return split;
  return "";
}

// The split a keyword in the relative path names: folders first, then the file name.
std::string keyword_split(const fs::path& relative) {
  for (const auto& part : relative)
    for (const std::string& word : words_of(part.string()))
      if (std::string split = split_of_word(word); !split.empty()) return split;
  return "";
}

// data/SPLIT-00000-of-00001.EXT (datasets' SPLIT_PATTERN_SHARDED): SPLIT, else "".
std::string sharded_split(const fs::path& relative) {
  static const std::regex pattern(R"(data/(\w+(?:\.\w+)*)-\d{5}-of-\d{5}[^/]*\.[^/]*)");
  std::smatch match;
  const std::string text = relative.generic_string();
  return std::regex_match(text, match, pattern) ? match[1].str() : "";
}

// Every data file under `snapshot` (hidden folders skipped), relative, in path order.
std::vector<fs::path> data_files_under(const fs::path& snapshot) {
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(snapshot); it != fs::end(it); ++it) {
    const std::string name = it->path().filename().string();
    if (is_hidden_name(name)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && is_data_file(name))
      files.push_back(it->path().lexically_relative(snapshot));  // the link, not its blob
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

// ---------------------------------------------------------------- public

fs::path hub_cache_root() {
  if (auto cache = env("HF_HUB_CACHE")) return expand(*cache);
  if (auto legacy = env("HUGGINGFACE_HUB_CACHE")) return expand(*legacy);
  const std::string cache_home =
      env("XDG_CACHE_HOME").value_or(path_join(expand_user("~"), ".cache"));
  const std::string hf_home = expand(env("HF_HOME").value_or(path_join(cache_home, "huggingface")));
  return expand(path_join(hf_home, "hub"));
}

bool is_hub_repo_id(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos || text.find('/', slash + 1) != std::string::npos) return false;
  if (!is_repo_id_part(text.substr(0, slash)) || !is_repo_id_part(text.substr(slash + 1)))
    return false;
  return text.find("--") == std::string::npos && text.find("..") == std::string::npos &&
         !ends_with(text, ".git");
}

fs::path hub_repo_folder(const fs::path& root, const std::string& id, HubRepoType type) {
  const size_t slash = id.find('/');
  return root /
         (std::string(type_word(type)) + "s--" + id.substr(0, slash) + "--" + id.substr(slash + 1));
}

std::optional<fs::path> find_hub_snapshot(const fs::path& root, const std::string& id,
                                          HubRepoType type, const std::string& revision) {
  const fs::path repo = hub_repo_folder(root, id, type);
  std::error_code ec;
  if (!fs::is_directory(repo, ec)) return std::nullopt;
  std::string commit = revision.empty() ? "main" : revision;
  if (fs::is_regular_file(repo / "refs" / commit, ec)) commit = read_ref(repo / "refs" / commit);
  // a name of snapshots/ (try_to_load_from_cache compares with its listing)
  if (commit.empty() || commit.find('/') != std::string::npos || commit == "." || commit == "..")
    return std::nullopt;
  const fs::path snapshot = repo / "snapshots" / commit;
  if (!fs::is_directory(snapshot, ec)) return std::nullopt;
  return snapshot;
}

std::string resolve_hub_model(const std::string& value, const std::string& where,
                              const std::string& revision) {
  std::error_code ec;
  if (value.empty() || fs::exists(value, ec) || !is_hub_repo_id(value)) return value;
  const std::string rev = revision.empty() ? "main" : revision;
  if (auto snapshot = find_hub_snapshot(hub_cache_root(), value, HubRepoType::kModel, rev))
    return snapshot->string();
  throw_not_cached(where, value, HubRepoType::kModel, rev);
}

bool is_local_dataset_spec(const std::string& spec) {
  std::error_code ec;
  if (fs::exists(spec, ec)) return true;
  const size_t colon = spec.rfind(':');
  return colon != std::string::npos && colon > 0 && fs::is_regular_file(spec.substr(0, colon), ec);
}

bool is_hub_dataset_spec(const std::string& spec) {
  return is_hub_repo_id(spec.substr(0, spec.find(':')));
}

std::map<std::string, std::vector<fs::path>> hub_dataset_splits(const fs::path& snapshot) {
  const std::vector<fs::path> files = data_files_under(snapshot);
  std::map<std::string, std::vector<fs::path>> sharded, by_keyword;
  for (const fs::path& file : files) {
    if (std::string split = sharded_split(file); !split.empty())
      sharded[split].push_back(snapshot / file);
    if (std::string split = keyword_split(file); !split.empty())
      by_keyword[split].push_back(snapshot / file);
  }
  if (!sharded.empty()) return sharded;
  if (!by_keyword.empty()) return by_keyword;
  std::map<std::string, std::vector<fs::path>> all;
  for (const fs::path& file : files) all["train"].push_back(snapshot / file);
  return all;
}

std::vector<std::string> resolve_hub_dataset(const std::string& spec, const std::string& where) {
  if (is_local_dataset_spec(spec) || !is_hub_dataset_spec(spec)) return {spec};
  const size_t colon = spec.find(':');
  const std::string id = spec.substr(0, colon);
  const std::string split = colon == std::string::npos ? "train" : spec.substr(colon + 1);
  auto snapshot = find_hub_snapshot(hub_cache_root(), id, HubRepoType::kDataset, "main");
  if (!snapshot) throw_not_cached(where, id, HubRepoType::kDataset, "main");
  const auto splits = hub_dataset_splits(*snapshot);
  if (splits.empty())
    throw_user_error(
        "{}: {}: the cached snapshot {} holds no .jsonl, .json, .jsonl.gz or .json.gz "
        "file",
        where, spec, snapshot->string());
  auto it = splits.find(split);
  if (it == splits.end()) {
    std::vector<std::string> names;
    for (const auto& [name, files] : splits) names.push_back(name);
    throw_user_error("{}: {}: the cached dataset has no split '{}' (its splits, by file name: {})",
                     where, spec, split, join(names, ", "));
  }
  std::vector<std::string> files;
  for (const fs::path& file : it->second)
    if (is_json_data_file(file.filename().string())) files.push_back(file.string());
  if (files.empty())
    throw_user_error(
        "{}: {}: the cached dataset's split '{}' is in .parquet files, which dpo does not read; "
        "convert each to JSON lines, e.g. python -c \"import pandas; "
        "pandas.read_parquet('{}').to_json('{}.jsonl', orient='records', lines=True)\", and give "
        "that file",
        where, spec, split, it->second.front().string(), split);
  return files;
}

}  // namespace dpo
