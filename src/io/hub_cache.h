// Hugging Face Hub ids (ORG/NAME) resolved in the local Hugging Face cache, offline, by
// huggingface_hub's rules (constants.py for the cache root, file_download.py's
// try_to_load_from_cache for the layout); dpo never downloads. Plain C++, no libtorch.
//
// Layout: <root>/models--ORG--NAME (datasets--ORG--NAME) holds refs/<revision> (a file holding a
// commit hash) and snapshots/<hash>/ (the repository's files, symlinks into blobs/). A revision
// with no refs/ file is taken as the commit hash itself.
//
// A value that exists as a local path always wins over a Hub id (as transformers does); a value
// that is no Hub id is returned unchanged (the caller's "not a folder" errors apply).
//
// A dataset snapshot gives the data files of one split, picked as `datasets` does for a repo of
// plain files: every .jsonl, .json, .jsonl.gz and .json.gz file under the snapshot (hidden and
// "__" folders left out); files named data/SPLIT-00000-of-00001.* name their split, else a split
// keyword word in the path (train|training, validation|valid|dev|val, test|testing|eval|evaluation;
// words split by -._, space, digits and /) does, else every file is "train". ORG/NAME reads the
// train split, ORG/NAME:SPLIT another. .parquet files are refused with how to convert them.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dpo {

enum class HubRepoType { kModel, kDataset };

// HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub; `~` and `$VAR` expanded as
// Python's os.path.expanduser / expandvars do.
std::filesystem::path hub_cache_root();

// NAMESPACE/NAME as huggingface_hub's validate_repo_id accepts it, the namespace required here:
// exactly one '/', each part 1-96 of [A-Za-z0-9_.-] starting and ending with a letter, digit or
// '_', no "--" nor "..", not ending in ".git".
bool is_hub_repo_id(const std::string& text);

// <root>/models--ORG--NAME or <root>/datasets--ORG--NAME.
std::filesystem::path hub_repo_folder(const std::filesystem::path& root, const std::string& id,
                                      HubRepoType type);

// snapshots/<hash> of `id` at `revision` (refs/<revision>'s hash, or `revision` itself), as
// try_to_load_from_cache finds it; nullopt when the cache lacks the repository or the revision.
std::optional<std::filesystem::path> find_hub_snapshot(const std::filesystem::path& root,
                                                       const std::string& id, HubRepoType type,
                                                       const std::string& revision = "main");

// A model, tokenizer or adapter value: unchanged when it exists as a path or is no Hub id, else
// the snapshot folder in hub_cache_root(). UserError when the cache lacks it, naming `where` (the
// key or flag: "--model", "recipe.yaml line 2: model_name_or_path"), the id, the cache root and the
// `hf download` command that fetches it.
std::string resolve_hub_model(const std::string& value, const std::string& where,
                              const std::string& revision = "main");

// True when `spec` (data/reader.h: a path, or FILE:SPLIT) names an existing local file or folder.
bool is_local_dataset_spec(const std::string& spec);

// True when `spec` is a Hub dataset id, ORG/NAME or ORG/NAME:SPLIT.
bool is_hub_dataset_spec(const std::string& spec);

// A dataset spec: {spec} when it is local or no Hub id, else the data files of the cached
// dataset's split (the ":SPLIT" suffix, default train), in path order. UserError naming `where`
// when the cache lacks the dataset, the split has no files, or only .parquet ones.
std::vector<std::string> resolve_hub_dataset(const std::string& spec, const std::string& where);

// The data files of a dataset snapshot by split name (the rules above), .parquet files included.
std::map<std::string, std::vector<std::filesystem::path>> hub_dataset_splits(
    const std::filesystem::path& snapshot);

}  // namespace dpo
