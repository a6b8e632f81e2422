// Inputs that used to crash, hang or silently change results, through the binary (issue 16); the
// messages themselves are in docs/errors.md (errors_catalogue_test).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(DPO_FIXTURES);
const std::string kModel = (kFixtures / "hf/llama/model").string();
const std::string kAdapter = (kFixtures / "hf/llama/adapter").string();

struct Exec {
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

fs::path work_dir() {
  fs::path dir = fs::temp_directory_path() / ("dpo_robustness_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// `dpo ARGUMENTS` from the repository root; `wrapper` goes in front (timeout, prlimit).
Exec run_dpo(const std::string& arguments, const std::string& wrapper = "") {
  const fs::path out = work_dir() / "stdout.txt", err = work_dir() / "stderr.txt";
  const std::string command = "cd '" + std::string(DPO_SOURCE_DIR) + "' && " + wrapper + " " +
                              DPO_BINARY + " " + arguments + " > '" + out.string() + "' 2> '" +
                              err.string() + "'";
  const int raw = std::system(command.c_str());
  Exec exec;
  if (WIFEXITED(raw)) exec.status = WEXITSTATUS(raw);
  exec.out = slurp(out);
  exec.err = slurp(err);
  return exec;
}

TEST(Robustness, GroupsOfSubcommandsHaveHelp) {
  Exec data = run_dpo("data --help");
  EXPECT_EQ(data.status, 0) << data.err;
  EXPECT_NE(data.out.find("data inspect"), std::string::npos) << data.out;
  Exec bench = run_dpo("bench --help");
  EXPECT_EQ(bench.status, 0) << bench.err;
  EXPECT_NE(bench.out.find("bench train"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("bench forward"), std::string::npos) << bench.out;
  Exec unknown = run_dpo("data frobnicate");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_NE(unknown.err.find("unknown subcommand 'frobnicate'; expected one of: data inspect"),
            std::string::npos)
      << unknown.err;
}

// An adapter saved with lora_dropout > 0 used to keep dropout on in generate: "greedy" answers
// changed from run to run.
TEST(Robustness, GreedyGenerationWithADropoutAdapterIsDeterministic) {
  const fs::path adapter = work_dir() / "dropout_adapter";
  fs::remove_all(adapter);
  fs::copy(kAdapter, adapter, fs::copy_options::recursive);
  nlohmann::json config = nlohmann::json::parse(slurp(adapter / "adapter_config.json"));
  config["lora_dropout"] = 0.5;
  std::ofstream(adapter / "adapter_config.json") << config.dump(2);
  const std::string args = "generate --model " + kModel + " --adapter " + adapter.string() +
                           " --prompt-ids 1,415,5565 --max-new-tokens 12 --json --threads 1";
  Exec first = run_dpo(args);
  ASSERT_EQ(first.status, 0) << first.err;
  for (int i = 0; i < 3; ++i) {
    Exec again = run_dpo(args);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(again.out, first.out);
  }
  // and the same answer as the adapter without dropout
  Exec plain = run_dpo("generate --model " + kModel + " --adapter " + kAdapter +
                       " --prompt-ids 1,415,5565 --max-new-tokens 12 --json --threads 1");
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(plain.out, first.out);
}

TEST(Robustness, GenerateTakesAChatTemplateAndAnEmptyPrompt) {
  Exec chat = run_dpo("generate --model " + kModel +
                      " --prompt hi --chat --chat-template chatml --max-new-tokens 2 --json");
  ASSERT_EQ(chat.status, 0) << chat.err;
  EXPECT_NE(chat.out.find("prompt_ids"), std::string::npos);
  Exec bad = run_dpo("generate --model " + kModel + " --prompt hi --chat --chat-template nope");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("chat_template: 'nope'"), std::string::npos) << bad.err;
  // "" is a prompt (BOS alone), not a missing one
  Exec empty = run_dpo("generate --model " + kModel + " --prompt '' --max-new-tokens 2 --json");
  EXPECT_EQ(empty.status, 0) << empty.err;
}

TEST(Robustness, DataInspectReadsSftDataWithTrainDefaults) {
  Exec sft = run_dpo("data inspect examples/data/tiny_sft.jsonl --json");
  ASSERT_EQ(sft.status, 0) << sft.err;
  const nlohmann::json j = nlohmann::json::parse(sft.out);
  EXPECT_TRUE(j["lengths"].contains("completion")) << sft.out;
  // preference data: dpo train's truncation defaults, and one count of truncated rows
  Exec pairs = run_dpo("data inspect examples/data/tiny_pairs.jsonl --max-length 12");
  ASSERT_EQ(pairs.status, 0) << pairs.err;
  EXPECT_NE(pairs.out.find("(keep_start)"), std::string::npos) << pairs.out;
  Exec json = run_dpo("data inspect examples/data/tiny_pairs.jsonl --max-length 12 --json");
  ASSERT_EQ(json.status, 0) << json.err;
  const int64_t truncated = nlohmann::json::parse(json.out)["truncated_rows"];
  EXPECT_GT(truncated, 0);
  EXPECT_NE(pairs.out.find("truncated " + std::to_string(truncated) + ","), std::string::npos)
      << pairs.out;
  EXPECT_NE(pairs.out.find(std::to_string(truncated) + " rows truncated"), std::string::npos)
      << pairs.out;
}

// dpo data tokenize writes the pipeline's token ids as pretokenized rows, which read back as the
// same dataset: the same rows and the same token lengths as the text rows with the model.
TEST(Robustness, DataTokenizeWritesPretokenizedRowsThatReadBackTheSame) {
  const fs::path tokens = work_dir() / "tiny_pairs.tokens.jsonl";
  fs::remove(tokens);
  const std::string tokenize = "data tokenize examples/data/tiny_pairs.jsonl --model " + kModel +
                               " --output " + tokens.string();
  Exec written = run_dpo(tokenize);
  ASSERT_EQ(written.status, 0) << written.err;
  EXPECT_NE(written.err.find("wrote 16 rows to"), std::string::npos) << written.err;
  Exec text = run_dpo("data inspect examples/data/tiny_pairs.jsonl --model " + kModel + " --json");
  Exec ids = run_dpo("data inspect " + tokens.string() + " --model " + kModel +
                     " --format pretokenized --json");
  // without --model the examples are the ids read as bytes: not UTF-8, still valid JSON
  Exec bytes = run_dpo("data inspect " + tokens.string() + " --format pretokenized --json");
  ASSERT_EQ(bytes.status, 0) << bytes.err;
  EXPECT_EQ(nlohmann::json::parse(bytes.out)["kept_rows"], 16);
  ASSERT_EQ(text.status, 0) << text.err;
  ASSERT_EQ(ids.status, 0) << ids.err;
  const nlohmann::json a = nlohmann::json::parse(text.out), b = nlohmann::json::parse(ids.out);
  EXPECT_EQ(b["format"], "pretokenized");
  EXPECT_EQ(b["kept_rows"], 16);
  EXPECT_EQ(a["lengths"], b["lengths"]) << text.out << "\n" << ids.out;
  // The first row: BOS + prompt, and completions ending in EOS (2).
  const nlohmann::json first =
      nlohmann::json::parse(slurp(tokens).substr(0, slurp(tokens).find('\n')));
  EXPECT_EQ(first["prompt_ids"][0], 1);
  EXPECT_EQ(first["chosen_ids"].back(), 2);
  EXPECT_EQ(first["rejected_ids"].back(), 2);
  // An existing output only with --overwrite; then replaced whole.
  Exec again = run_dpo(tokenize);
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("exists; pass --overwrite to replace it"), std::string::npos)
      << again.err;
  Exec replaced = run_dpo(tokenize + " --overwrite --max-rows 3");
  ASSERT_EQ(replaced.status, 0) << replaced.err;
  const std::string contents = slurp(tokens);
  EXPECT_EQ(std::count(contents.begin(), contents.end(), '\n'), 3);
}

TEST(Robustness, DataInspectReadsUnpairedKtoRows) {
  Exec text = run_dpo("data inspect examples/data/tiny_kto.jsonl");
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("unpaired (KTO: prompt/completion/label"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("labels: 16 desirable (true), 12 undesirable (false)"), std::string::npos)
      << text.out;
  Exec json = run_dpo("data inspect examples/data/tiny_kto.jsonl --json");
  ASSERT_EQ(json.status, 0) << json.err;
  const nlohmann::json j = nlohmann::json::parse(json.out);
  EXPECT_EQ(j["format"], "unpaired");
  EXPECT_EQ(j["desirable"], 16);
  EXPECT_EQ(j["undesirable"], 12);
  EXPECT_TRUE(j["lengths"].contains("completion")) << json.out;
}

TEST(Robustness, NonFiniteAdapterWeightsAreRefusedByEveryCommand) {
  const fs::path adapter = work_dir() / "inf_adapter";
  fs::remove_all(adapter);
  fs::copy(kAdapter, adapter, fs::copy_options::recursive);
  // +inf as the first float of the data buffer
  std::string bytes = slurp(adapter / "adapter_model.safetensors");
  uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | static_cast<unsigned char>(bytes[i]);
  const unsigned char inf[4] = {0x00, 0x00, 0x80, 0x7f};
  for (int i = 0; i < 4; ++i) bytes[8 + header + i] = static_cast<char>(inf[i]);
  std::ofstream(adapter / "adapter_model.safetensors", std::ios::binary) << bytes;
  const fs::path merged = work_dir() / "inf_merged";
  Exec merge = run_dpo("merge --model " + kModel + " --adapter " + adapter.string() + " --output " +
                       merged.string());
  EXPECT_EQ(merge.status, 1);
  EXPECT_NE(merge.err.find("holds 1 NaN or infinite value"), std::string::npos) << merge.err;
  EXPECT_FALSE(fs::exists(merged));
}

TEST(Robustness, ConfigPathsAreRelativeToTheConfigFile) {
  // examples/tiny-cpu.yaml from another folder: its model and data paths still resolve
  const fs::path out = work_dir() / "relative_run";
  fs::remove_all(out);
  const std::string command =
      "cd '" + work_dir().string() + "' && " + DPO_BINARY + " train '" + DPO_SOURCE_DIR +
      "/examples/tiny-cpu.yaml' output_dir=" + out.string() +
      " max_steps=1 eval_steps=null eval_prompts=[] " + "--no-progress > /dev/null 2> '" +
      (work_dir() / "err").string() + "'";
  const int raw = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(raw));
  ASSERT_EQ(WEXITSTATUS(raw), 0) << slurp(work_dir() / "err");
  // config.yaml and the adapter name the model by its absolute path
  const std::string config = slurp(out / "config.yaml");
  const std::string model = fs::path(kModel).lexically_normal().string();
  EXPECT_NE(config.find("model_name_or_path: \"" + model + "\""), std::string::npos) << config;
  const nlohmann::json adapter = nlohmann::json::parse(slurp(out / "adapter_config.json"));
  EXPECT_EQ(adapter["base_model_name_or_path"], model);
}

// Under an address-space limit (ulimit -v) OpenBLAS's initializer used to spin forever before
// main, and merge and generate to hang in its allocator: every limit now ends, with "out of
// memory" when it is too small (or the loader's own error when not even the libraries fit).
TEST(Robustness, AddressSpaceLimitsEndWithOutOfMemoryNotAHang) {
  const fs::path merged = work_dir() / "limited_merge";
  for (int mb = 600; mb <= 1400; mb += 200) {
    SCOPED_TRACE(std::to_string(mb) + " MiB");
    const std::string limit =
        "timeout 120 prlimit --as=" + std::to_string(static_cast<int64_t>(mb) << 20);
    for (const std::string& command :
         {std::string("--version"),
          "generate --model " + kModel + " --prompt-ids 1,2 --max-new-tokens 2 --threads 2",
          "merge --model " + kModel + " --adapter " + kAdapter + " --output " + merged.string() +
              " --threads 2"}) {
      Exec run = run_dpo(command, limit);
      EXPECT_NE(run.status, 124) << "hung: dpo " << command;
      EXPECT_TRUE(run.status == 0 || run.status == 1 || run.status == 127)
          << run.status << ": " << run.err;
      if (run.status == 1) {
        EXPECT_NE(run.err.find("out of memory"), std::string::npos) << run.err;
      }
    }
  }
}

// A tiny run of `steps` steps into `out` (examples/tiny-cpu.yaml: lora_r 8), plus `overrides`.
Exec tiny_run(const fs::path& out, int steps, const std::string& overrides) {
  return run_dpo("train examples/tiny-cpu.yaml output_dir=" + out.string() +
                 " max_steps=" + std::to_string(steps) +
                 " save_steps=2 logging_steps=1 eval_steps=null --no-progress " + overrides);
}

// Resuming used to train with the checkpoint's lora_r while config.yaml recorded the new one.
TEST(Robustness, ResumeRefusesSettingsTheCheckpointFixes) {
  const fs::path out = work_dir() / "resume_lora";
  fs::remove_all(out);
  ASSERT_EQ(tiny_run(out, 2, "").status, 0);
  Exec r = tiny_run(out, 4, "resume_from_checkpoint=latest lora_r=4");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("was trained with lora_r 8, but this config sets 4; a resumed run keeps "
                       "the checkpoint's weights, so set lora_r: 8"),
            std::string::npos)
      << r.err;
  Exec full = tiny_run(out, 4, "resume_from_checkpoint=latest use_peft=false");
  EXPECT_EQ(full.status, 1);
  EXPECT_NE(full.err.find("was trained with use_peft true, but this config sets false"),
            std::string::npos)
      << full.err;
}

// Resuming a finished run used to append a second final eval, a zero-throughput summary and a
// second "after" generation; a larger max_steps extends the run, as transformers' Trainer does.
TEST(Robustness, ResumingAFinishedRunDoesNothingAndALongerOneExtendsIt) {
  const fs::path out = work_dir() / "resume_finished";
  fs::remove_all(out);
  ASSERT_EQ(tiny_run(out, 2, "").status, 0);
  const std::string metrics = slurp(out / "metrics.jsonl");
  const std::string generations = slurp(out / "generations.jsonl");
  Exec again = tiny_run(out, 2, "resume_from_checkpoint=latest");
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.err.find("the run already finished at step 2 of 2; nothing to do"),
            std::string::npos)
      << again.err;
  EXPECT_EQ(slurp(out / "metrics.jsonl"), metrics);
  EXPECT_EQ(slurp(out / "generations.jsonl"), generations);

  // killed after its last checkpoint but before its final outputs: the resume finishes the run
  fs::remove(out / "adapter_model.safetensors");
  fs::remove(out / "trainer_state.json");
  Exec finish = tiny_run(out, 2, "resume_from_checkpoint=latest");
  ASSERT_EQ(finish.status, 0) << finish.err;
  EXPECT_EQ(finish.err.find("nothing to do"), std::string::npos) << finish.err;
  EXPECT_TRUE(fs::exists(out / "adapter_model.safetensors"));
  EXPECT_TRUE(fs::exists(out / "trainer_state.json"));

  Exec longer = tiny_run(out, 4, "resume_from_checkpoint=latest");
  ASSERT_EQ(longer.status, 0) << longer.err;
  EXPECT_NE(longer.err.find("the checkpoint belongs to a run of 2 steps, this config makes 4: "
                            "the run goes on to step 4"),
            std::string::npos)
      << longer.err;
  const nlohmann::json state = nlohmann::json::parse(slurp(out / "trainer_state.json"));
  EXPECT_EQ(state["global_step"], 4);
  EXPECT_TRUE(fs::exists(out / "checkpoint-4"));
}

}  // namespace
