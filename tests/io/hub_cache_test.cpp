// io/hub_cache.h: Hub ids in a fake Hugging Face cache laid out in a temp folder (refs/main, a
// pinned revision, missing ids and revisions, the cache-root variables, local paths first,
// dataset splits and .parquet), and the same lookups asked of huggingface_hub itself.
#include "io/hub_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "python_reference.h"
#include "util/error.h"

namespace fs = std::filesystem;
using dpo::HubRepoType;

namespace {

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";
constexpr const char* kOldCommit = "fedcba9876543210fedcba9876543210fedcba98";

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// A repository as huggingface_hub writes it: blobs/<etag>, snapshots/<commit>/<file> a relative
// symlink to its blob, refs/<ref> holding the commit (no newline).
void add_snapshot(const fs::path& repo, const std::string& commit,
                  const std::map<std::string, std::string>& files, const std::string& ref = "") {
  int blob = 0;
  for (const auto& [name, text] : files) {
    const std::string etag = commit.substr(0, 8) + std::to_string(blob++);
    write_text(repo / "blobs" / etag, text);
    const fs::path link = repo / "snapshots" / commit / name;
    fs::create_directories(link.parent_path());
    const fs::path parent = fs::path(name).parent_path();
    fs::path up;  // from the file's folder back to snapshots/<commit>
    for (auto it = parent.begin(); it != parent.end(); ++it) up /= "..";
    fs::create_symlink(fs::path("..") / ".." / up / "blobs" / etag, link);
  }
  if (!ref.empty()) write_text(repo / "refs" / ref, commit);
}

// Sets and restores the variables that place the cache.
class CacheEnv {
 public:
  CacheEnv() {
    for (const char* name : kNames)
      if (const char* value = std::getenv(name)) saved_[name] = value;
    for (const char* name : kNames) ::unsetenv(name);
  }
  ~CacheEnv() {
    for (const char* name : kNames) ::unsetenv(name);
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
  }
  void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

  static constexpr const char* kNames[] = {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME",
                                           "XDG_CACHE_HOME", "HOME"};

 private:
  std::map<std::string, std::string> saved_;
};

class HubCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hub_cache_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    root_ = dir_ / "hub";
    fs::create_directories(root_);
    env_.set("HF_HUB_CACHE", root_.string());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path model_repo() const { return root_ / "models--Org--Tiny"; }
  fs::path dataset_repo() const { return root_ / "datasets--Org--Pairs"; }
  void add_model() {
    add_snapshot(model_repo(), kCommit, {{"config.json", "{}"}, {"tokenizer.json", "{}"}}, "main");
    add_snapshot(model_repo(), kOldCommit, {{"config.json", "{\"old\": 1}"}}, "v1");
  }
  void add_dataset(const std::map<std::string, std::string>& files) {
    add_snapshot(dataset_repo(), kCommit, files, "main");
  }

  CacheEnv env_;
  fs::path dir_, root_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const dpo::UserError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string in(const fs::path& root, const std::string& commit, const std::string& repo) {
  return (root / repo / "snapshots" / commit).string();
}

}  // namespace

TEST(HubRepoId, FollowsValidateRepoId) {
  for (const char* id : {"HuggingFaceTB/SmolLM2-135M-Instruct", "Org/Name", "a/b", "o_1/x.y-z",
                         "trl-lib/ultrafeedback_binarized", "_a/b_"})
    EXPECT_TRUE(dpo::is_hub_repo_id(id)) << id;
  for (const char* id :
       {"gpt2", "a/b/c", "/abs/path", "./x", "a/", "/b", "org/-x", "org/x.", ".org/x", "o--g/x",
        "org/x..y", "org/x.git", "org/caf\xc3\xa9", "org/a b", "runs/out:1", ""})
    EXPECT_FALSE(dpo::is_hub_repo_id(id)) << id;
  EXPECT_FALSE(dpo::is_hub_repo_id("org/" + std::string(97, 'x')));
  EXPECT_TRUE(dpo::is_hub_repo_id("org/" + std::string(96, 'x')));
}

TEST(HubCacheRoot, PrecedenceOfTheVariables) {
  CacheEnv env;
  env.set("HOME", "/home/someone");
  EXPECT_EQ(dpo::hub_cache_root(), fs::path("/home/someone/.cache/huggingface/hub"));
  env.set("XDG_CACHE_HOME", "/xdg");
  EXPECT_EQ(dpo::hub_cache_root(), fs::path("/xdg/huggingface/hub"));
  env.set("HF_HOME", "~/hf");
  EXPECT_EQ(dpo::hub_cache_root(), fs::path("/home/someone/hf/hub"));
  env.set("HUGGINGFACE_HUB_CACHE", "/legacy");
  EXPECT_EQ(dpo::hub_cache_root(), fs::path("/legacy"));
  env.set("HF_HUB_CACHE", "$HOME/hub-${HOME}x$NOPE_NOT_SET");
  EXPECT_EQ(dpo::hub_cache_root(), fs::path("/home/someone/hub-/home/someonex$NOPE_NOT_SET"));
}

TEST_F(HubCache, RefsMainGivesItsSnapshot) {
  add_model();
  EXPECT_EQ(dpo::resolve_hub_model("Org/Tiny", "--model"), in(root_, kCommit, "models--Org--Tiny"));
  auto found = dpo::find_hub_snapshot(root_, "Org/Tiny", HubRepoType::kModel);
  ASSERT_TRUE(found);
  EXPECT_TRUE(fs::is_regular_file(*found / "config.json"));  // through the blob symlink
}

TEST_F(HubCache, PinnedRevisionByRefOrCommit) {
  add_model();
  const std::string old = in(root_, kOldCommit, "models--Org--Tiny");
  EXPECT_EQ(dpo::resolve_hub_model("Org/Tiny", "--model", "v1"), old);
  EXPECT_EQ(dpo::resolve_hub_model("Org/Tiny", "--model", kOldCommit), old);
  EXPECT_EQ(dpo::resolve_hub_model("Org/Tiny", "--model", kCommit),
            in(root_, kCommit, "models--Org--Tiny"));
}

TEST_F(HubCache, MissingRevisionNamesTheCommandThatFetchesIt) {
  add_model();
  EXPECT_EQ(error_of([] { dpo::resolve_hub_model("Org/Tiny", "--model", "v2"); }),
            "--model: Org/Tiny: the Hugging Face cache " + root_.string() +
                " holds this model but not its revision 'v2' (dpo reads the cache offline); "
                "fetch it with `hf download Org/Tiny --revision v2`");
}

TEST_F(HubCache, MissingIdNamesTheKeyTheCacheAndTheCommand) {
  EXPECT_EQ(error_of([] {
              dpo::resolve_hub_model("Org/Absent",
                                     "tiny.yaml line 1: "
                                     "model_name_or_path");
            }),
            "tiny.yaml line 1: model_name_or_path: Org/Absent: no such local path, and no Hub "
            "model of that id in the Hugging Face cache " +
                root_.string() +
                " (dpo reads the cache offline); fetch it with `hf download Org/Absent`");
  EXPECT_EQ(error_of([] { dpo::resolve_hub_dataset("Org/Absent", "dataset"); }),
            "dataset: Org/Absent: no such local path, and no Hub dataset of that id in the "
            "Hugging Face cache " +
                root_.string() +
                " (dpo reads the cache offline); fetch it with `hf download Org/Absent "
                "--repo-type dataset`");
}

TEST_F(HubCache, HfHubCacheWinsOverHfHome) {
  const fs::path other = dir_ / "home";
  add_snapshot(other / "hub" / "models--Org--Tiny", kOldCommit, {{"config.json", "{}"}}, "main");
  env_.set("HF_HOME", other.string());
  EXPECT_EQ(error_of([] { dpo::resolve_hub_model("Org/Tiny", "--model"); }).find("no such"),
            std::string("--model: Org/Tiny: ").size());  // HF_HUB_CACHE's empty cache is read
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_EQ(dpo::resolve_hub_model("Org/Tiny", "--model"),
            in(other / "hub", kOldCommit, "models--Org--Tiny"));
}

TEST_F(HubCache, LocalPathWinsAndOtherTextIsUnchanged) {
  add_model();
  const fs::path cwd = fs::current_path();
  fs::create_directories(dir_ / "work" / "Org" / "Tiny");
  fs::current_path(dir_ / "work");
  EXPECT_EQ(dpo::resolve_hub_model("Org/Tiny", "--model"), "Org/Tiny");
  write_text(dir_ / "work" / "Org" / "Pairs", "{}\n");
  EXPECT_EQ(dpo::resolve_hub_dataset("Org/Pairs", "dataset"),
            std::vector<std::string>{"Org/Pairs"});
  fs::current_path(cwd);
  for (const char* text : {"nowhere", "a/b/c", "./Org/Tiny", "", "/abs/Org/Tiny"})
    EXPECT_EQ(dpo::resolve_hub_model(text, "--model"), text);
  EXPECT_EQ(dpo::resolve_hub_dataset("rows.jsonl:test", "dataset"),
            std::vector<std::string>{"rows.jsonl:test"});
}

TEST_F(HubCache, DatasetSplitsByFileName) {
  add_dataset({{"README.md", "# pairs"},
               {"train.jsonl", "{}\n"},
               {"test.jsonl.gz", ""},
               {"extra/valid-part.json", "[]"},
               {".hidden/train.jsonl", "{}\n"}});
  const std::string snap = in(root_, kCommit, "datasets--Org--Pairs");
  EXPECT_EQ(dpo::resolve_hub_dataset("Org/Pairs", "dataset"),
            std::vector<std::string>{snap + "/train.jsonl"});
  EXPECT_EQ(dpo::resolve_hub_dataset("Org/Pairs:test", "eval_dataset"),
            std::vector<std::string>{snap + "/test.jsonl.gz"});
  EXPECT_EQ(dpo::resolve_hub_dataset("Org/Pairs:validation", "eval_dataset"),
            std::vector<std::string>{snap + "/extra/valid-part.json"});
  EXPECT_EQ(error_of([] { dpo::resolve_hub_dataset("Org/Pairs:dev2", "--data"); }),
            "--data: Org/Pairs:dev2: the cached dataset has no split 'dev2' (its splits, by file "
            "name: test, train, validation)");
}

TEST_F(HubCache, DatasetWithoutSplitNamesIsTrain) {
  add_dataset({{"a.jsonl", "{}\n"}, {"b/c.json", "[]"}, {"notes.txt", ""}});
  const std::string snap = in(root_, kCommit, "datasets--Org--Pairs");
  EXPECT_EQ(dpo::resolve_hub_dataset("Org/Pairs", "dataset"),
            (std::vector<std::string>{snap + "/a.jsonl", snap + "/b/c.json"}));
}

TEST_F(HubCache, DatasetShardedSplitNames) {
  add_dataset({{"data/train_prefs-00000-of-00002.jsonl", "{}\n"},
               {"data/train_prefs-00001-of-00002.jsonl", "{}\n"},
               {"data/test_prefs-00000-of-00001.jsonl", "{}\n"}});
  const std::string snap = in(root_, kCommit, "datasets--Org--Pairs");
  EXPECT_EQ(dpo::resolve_hub_dataset("Org/Pairs:test_prefs", "eval_dataset"),
            std::vector<std::string>{snap + "/data/test_prefs-00000-of-00001.jsonl"});
  EXPECT_EQ(dpo::resolve_hub_dataset("Org/Pairs:train_prefs", "dataset").size(), 2u);
  EXPECT_NE(error_of([] {
              dpo::resolve_hub_dataset("Org/Pairs", "dataset");
            }).find("no split 'train' (its splits, by file name: test_prefs, train_prefs)"),
            std::string::npos);
}

TEST_F(HubCache, ParquetIsRefusedWithTheConversion) {
  add_dataset({{"data/train-00000-of-00001.parquet", "PAR1"}});
  const std::string file =
      in(root_, kCommit, "datasets--Org--Pairs") + "/data/train-00000-of-00001.parquet";
  EXPECT_EQ(error_of([] { dpo::resolve_hub_dataset("Org/Pairs", "dataset"); }),
            "dataset: Org/Pairs: the cached dataset's split 'train' is in .parquet files, which "
            "dpo does not read; convert each to JSON lines, e.g. python -c \"import pandas; "
            "pandas.read_parquet('" +
                file +
                "').to_json('train.jsonl', orient='records', lines=True)\", and give that file");
}

TEST_F(HubCache, DatasetWithoutDataFiles) {
  add_dataset({{"README.md", "# nothing"}});
  EXPECT_EQ(error_of([] { dpo::resolve_hub_dataset("Org/Pairs", "dataset"); }),
            "dataset: Org/Pairs: the cached snapshot " +
                in(root_, kCommit, "datasets--Org--Pairs") +
                " holds no .jsonl, .json, .jsonl.gz or .json.gz file");
}

// ---------------------------------------------------------------- against huggingface_hub

namespace {

std::string run_python(const std::string& env, const std::string& script) {
  const fs::path file =
      fs::temp_directory_path() / ("hub_cache_" + std::to_string(::getpid()) + ".py");
  std::ofstream(file) << script;
  const std::string command =
      "env " + env + " '" + std::string(DPO_PYTHON) + "' '" + file.string() + "' 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  std::string out;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof buffer, pipe.get())) out += buffer;
  fs::remove(file);
  return out;
}

}  // namespace

TEST_F(HubCache, AgreesWithTryToLoadFromCache) {
  DPO_REQUIRE_PYTHON_MODULES("huggingface_hub");
  add_model();
  add_dataset({{"train.jsonl", "{}\n"}});
  add_snapshot(root_ / "models--Org--NoRefs", kCommit, {{"config.json", "{}"}});
  // (id, type, revision): found and missing repositories, refs and commits
  const std::vector<std::tuple<std::string, HubRepoType, std::string>> cases = {
      {"Org/Tiny", HubRepoType::kModel, "main"},     {"Org/Tiny", HubRepoType::kModel, "v1"},
      {"Org/Tiny", HubRepoType::kModel, kOldCommit}, {"Org/Tiny", HubRepoType::kModel, "v2"},
      {"Org/Pairs", HubRepoType::kDataset, "main"},  {"Org/Pairs", HubRepoType::kModel, "main"},
      {"Org/Absent", HubRepoType::kModel, "main"},   {"Org/NoRefs", HubRepoType::kModel, "main"},
      {"Org/NoRefs", HubRepoType::kModel, kCommit},
  };
  std::string script =
      "from huggingface_hub import try_to_load_from_cache\nroot = '" + root_.string() + "'\n";
  for (const auto& [id, type, revision] : cases) {
    const char* kind = type == HubRepoType::kModel ? "model" : "dataset";
    const char* file = type == HubRepoType::kModel ? "config.json" : "train.jsonl";
    script += "print(try_to_load_from_cache('" + id + "', '" + file +
              "', cache_dir=root, revision='" + revision + "', repo_type='" + kind + "'))\n";
  }
  const std::string python = run_python("HF_HUB_OFFLINE=1", script);
  std::string ours;
  for (const auto& [id, type, revision] : cases) {
    const char* file = type == HubRepoType::kModel ? "config.json" : "train.jsonl";
    auto snapshot = dpo::find_hub_snapshot(root_, id, type, revision);
    ours += (snapshot ? (*snapshot / file).string() : std::string("None")) + "\n";
  }
  EXPECT_EQ(ours, python);
}

TEST(HubCacheRoot, AgreesWithHuggingfaceHubConstants) {
  DPO_REQUIRE_PYTHON_MODULES("huggingface_hub");
  // each line: the variables set (the rest unset), as `env -u ... NAME=VALUE` takes them
  const std::vector<std::map<std::string, std::string>> cases = {
      {{"HOME", "/home/u"}},
      {{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/xdg"}},
      {{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/xdg"}, {"HF_HOME", "~/hf"}},
      {{"HOME", "/home/u"}, {"HF_HOME", "$HOME/h"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}},
      {{"HOME", "/home/u"}, {"HUGGINGFACE_HUB_CACHE", "~/legacy"}, {"HF_HUB_CACHE", "/new"}},
      {{"HOME", "/home/u"}, {"HF_HUB_CACHE", "${HOME}/c/$UNSET_VAR_X"}},
  };
  for (const auto& vars : cases) {
    std::string env = "-i PATH=/usr/bin:/bin";
    {
      CacheEnv guard;
      for (const auto& [name, value] : vars) {
        guard.set(name.c_str(), value);
        env += " " + name + "='" + value + "'";
      }
      const std::string ours = dpo::hub_cache_root().string();
      const std::string python =
          run_python(env, "from huggingface_hub import constants\nprint(constants.HF_HUB_CACHE)\n");
      EXPECT_EQ(ours + "\n", python) << env;
    }
  }
}

TEST(HubRepoId, AgreesWithValidateRepoId) {
  DPO_REQUIRE_PYTHON_MODULES("huggingface_hub");
  // ids of two parts (dpo requires the namespace): the same verdict as huggingface_hub's
  const std::vector<std::string> ids = {"HuggingFaceTB/SmolLM2-135M-Instruct",
                                        "a/b",
                                        "o_1/x.y-z",
                                        "_a/b_",
                                        "org/-x",
                                        "org/x.",
                                        ".org/x",
                                        "o--g/x",
                                        "org/x..y",
                                        "org/x.git",
                                        "org/caf\xc3\xa9",
                                        "org/a b",
                                        "org/x:y",
                                        "org/" + std::string(96, 'x'),
                                        "org/" + std::string(97, 'x'),
                                        "a/",
                                        "/b",
                                        "org/x-",
                                        "9/9"};
  std::string script =
      "from huggingface_hub.utils import validate_repo_id, HFValidationError\n"
      "def ok(i):\n    try:\n        validate_repo_id(i)\n        return 1\n"
      "    except HFValidationError:\n        return 0\n";
  std::string ours;
  for (const std::string& id : ids) {
    script += "print(ok('" + id + "'))\n";
    ours += dpo::is_hub_repo_id(id) ? "1\n" : "0\n";
  }
  EXPECT_EQ(ours, run_python("", script));
}
