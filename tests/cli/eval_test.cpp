// `dpo eval` and `dpo merge` through the binary: pretokenized rows made from the fixtures'
// expected.json give the PEFT/TRL numbers; bad input gives clear messages (exit 1).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(DPO_FIXTURES) / "hf";

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
  fs::path dir = fs::temp_directory_path() / ("dpo_eval_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

Exec run_dpo(const std::string& arguments) {
  fs::path out = work_dir() / "stdout.txt", err = work_dir() / "stderr.txt";
  std::string command = std::string(DPO_BINARY) + " " + arguments + " --threads 1 > " +
                        out.string() + " 2> " + err.string();
  int raw = std::system(command.c_str());
  Exec exec;
  if (WIFEXITED(raw)) exec.status = WEXITSTATUS(raw);
  exec.out = slurp(out);
  exec.err = slurp(err);
  return exec;
}

nlohmann::json expected_of(const std::string& kind) {
  return nlohmann::json::parse(slurp(kFixtures / kind / "expected.json"));
}

// The fixture's pairs as pretokenized JSONL rows.
fs::path pretokenized_rows(const std::string& kind) {
  fs::path file = work_dir() / (kind + "_pairs.jsonl");
  std::ofstream out(file);
  const nlohmann::json expected =
      expected_of(kind);  // (not a temporary: the loop keeps a reference)
  for (const auto& pair : expected["pairs"])
    out << nlohmann::json{{"prompt_ids", pair["prompt_ids"]},
                          {"chosen_ids", pair["chosen_ids"]},
                          {"rejected_ids", pair["rejected_ids"]}}
               .dump()
        << "\n";
  return file;
}

void expect_rel(double actual, double expected, double rtol, const std::string& what) {
  EXPECT_NEAR(actual, expected, rtol * std::max(std::abs(expected), 1e-6)) << what;
}

class EvalCli : public ::testing::TestWithParam<std::string> {};

TEST_P(EvalCli, PretokenizedRowsGiveTheFixtureNumbers) {
  const std::string kind = GetParam();
  const nlohmann::json dpo = expected_of(kind)["dpo"];
  fs::path per_example = work_dir() / (kind + "_per_example.jsonl");
  Exec exec = run_dpo("eval --model " + (kFixtures / kind / "model").string() + " --adapter " +
                      (kFixtures / kind / "adapter").string() + " --data " +
                      pretokenized_rows(kind).string() +
                      " --beta 0.1 --batch-size 3 --json --per-example " + per_example.string());
  ASSERT_EQ(exec.status, 0) << exec.err;
  nlohmann::json metrics = nlohmann::json::parse(exec.out);
  expect_rel(metrics["eval_loss"].get<double>(), dpo["sigmoid_loss_mean"].get<double>(), 1e-4,
             "eval_loss");
  for (const char* name :
       {"eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/accuracies",
        "eval_rewards/margins", "eval_logps/chosen", "eval_logps/rejected", "eval_logits/chosen",
        "eval_logits/rejected", "eval_entropy", "eval_mean_token_accuracy", "eval_runtime"})
    EXPECT_TRUE(metrics.contains(name)) << name;

  std::vector<nlohmann::json> rows;
  std::istringstream lines(slurp(per_example));
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 4u);
  double accuracy = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    EXPECT_EQ(row["index"], static_cast<int>(i));
    expect_rel(row["policy_chosen_logps"], dpo["policy_logps_chosen"][i], 1e-4, "policy chosen");
    expect_rel(row["policy_rejected_logps"], dpo["policy_logps_rejected"][i], 1e-4,
               "policy rejected");
    expect_rel(row["reference_chosen_logps"], dpo["ref_logps_chosen"][i], 1e-4, "reference chosen");
    expect_rel(row["reference_rejected_logps"], dpo["ref_logps_rejected"][i], 1e-4,
               "reference rejected");
    EXPECT_NEAR(row["chosen_reward"].get<double>(), dpo["rewards_chosen"][i].get<double>(), 5e-5);
    EXPECT_NEAR(row["rejected_reward"].get<double>(), dpo["rewards_rejected"][i].get<double>(),
                5e-5);
    double margin =
        dpo["rewards_chosen"][i].get<double>() - dpo["rewards_rejected"][i].get<double>();
    expect_rel(row["loss"], -std::log(1.0 / (1.0 + std::exp(-margin))), 1e-4, "per-pair loss");
    accuracy +=
        row["chosen_reward"].get<double>() > row["rejected_reward"].get<double>() ? 0.25 : 0.0;
  }
  EXPECT_EQ(accuracy, dpo["rewards_accuracies_mean"].get<double>());
}

INSTANTIATE_TEST_SUITE_P(Kinds, EvalCli, ::testing::Values("llama", "llama3rope", "qwen2"));

TEST(EvalCli, BatchSizeDoesNotChangeTheMetricsOfEqualBatchesAndOtherLossTypesRun) {
  fs::path data = pretokenized_rows("llama");
  std::string base = "eval --model " + (kFixtures / "llama" / "model").string() + " --adapter " +
                     (kFixtures / "llama" / "adapter").string() + " --data " + data.string() +
                     " --json";
  Exec one = run_dpo(base + " --batch-size 4");
  Exec two = run_dpo(base + " --batch-size 2");
  ASSERT_EQ(one.status, 0) << one.err;
  ASSERT_EQ(two.status, 0) << two.err;
  auto a = nlohmann::json::parse(one.out), b = nlohmann::json::parse(two.out);
  expect_rel(a["eval_loss"], b["eval_loss"], 1e-6, "loss");
  expect_rel(a["eval_logps/chosen"], b["eval_logps/chosen"], 1e-6, "logps/chosen");
  expect_rel(a["eval_logps/rejected"], b["eval_logps/rejected"], 1e-6, "logps/rejected");
  // Rewards and margins are beta times differences of such sums of log-probs (beta 0.1): their
  // rounding is relative to those sums, not to themselves.
  const double scale = 0.1 * std::max(std::abs(b["eval_logps/chosen"].get<double>()),
                                      std::abs(b["eval_logps/rejected"].get<double>()));
  for (const char* metric :
       {"eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/margins"})
    EXPECT_NEAR(a[metric], b[metric], 1e-6 * scale) << metric;
  Exec ipo = run_dpo(base + " --loss-type ipo sigmoid --loss-weights 0.5 1");
  ASSERT_EQ(ipo.status, 0) << ipo.err;
  EXPECT_NE(nlohmann::json::parse(ipo.out)["eval_loss"], a["eval_loss"]);
  // Text output names every metric.
  Exec text = run_dpo("eval --model " + (kFixtures / "llama" / "model").string() + " --data " +
                      data.string());
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("eval_rewards/accuracies"), std::string::npos) << text.out;
  EXPECT_NE(text.err.find("no --adapter"), std::string::npos) << text.err;
}

// The trainer's evaluation and `dpo eval` are one loop. On eval data that leaves a short last
// batch (the 16 tiny pairs in batches of 5: 5, 5, 5, 1) they report the same eval_loss, which
// weights each batch by its pairs (transformers' evaluation loop): the mean of the per-pair losses.
TEST(EvalCli, AgreesWithTheTrainerOnAShortLastBatch) {
  const fs::path source = DPO_SOURCE_DIR;
  const fs::path out = work_dir() / "short_last_batch";
  fs::remove_all(out);
  const std::string train = "cd " + source.string() + " && " + DPO_BINARY +
                            " train examples/tiny-cpu.yaml output_dir=" + out.string() +
                            " max_steps=4 per_device_eval_batch_size=5 eval_steps=4 save_steps=4 "
                            "eval_prompts=[] report_to=[jsonl] --no-progress > " +
                            (work_dir() / "train.log").string() + " 2>&1";
  ASSERT_EQ(std::system(train.c_str()), 0) << slurp(work_dir() / "train.log");
  double trainer_loss = NAN;
  std::istringstream rows(slurp(out / "metrics.jsonl"));
  for (std::string line; std::getline(rows, line);) {
    nlohmann::json row = nlohmann::json::parse(line);
    if (row.contains("eval_loss")) trainer_loss = row["eval_loss"].get<double>();
  }
  ASSERT_TRUE(std::isfinite(trainer_loss));

  const std::string eval = "eval --model " + (kFixtures / "llama" / "model").string() +
                           " --adapter " + out.string() + " --data " +
                           (source / "examples/data/tiny_pairs.jsonl").string() +
                           " --max-length 64 --beta 0.1 --json";
  fs::path per_example = work_dir() / "short_last_batch.jsonl";
  Exec five = run_dpo(eval + " --batch-size 5 --per-example " + per_example.string());
  Exec all = run_dpo(eval + " --batch-size 16");
  ASSERT_EQ(five.status, 0) << five.err;
  ASSERT_EQ(all.status, 0) << all.err;
  const double eval_loss = nlohmann::json::parse(five.out)["eval_loss"].get<double>();
  expect_rel(eval_loss, trainer_loss, 1e-5, "dpo eval vs the trainer");
  expect_rel(nlohmann::json::parse(all.out)["eval_loss"].get<double>(), eval_loss, 1e-5,
             "one batch vs batches of 5");
  std::vector<double> losses;
  std::istringstream lines(slurp(per_example));
  for (std::string line; std::getline(lines, line);)
    losses.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  ASSERT_EQ(losses.size(), 16u);
  double mean = 0.0, batch_means = 0.0;
  for (size_t i = 0; i < losses.size(); ++i) mean += losses[i] / 16.0;
  for (size_t first = 0; first < 16; first += 5) {
    const size_t n = std::min<size_t>(5, 16 - first);
    double sum = 0.0;
    for (size_t i = first; i < first + n; ++i) sum += losses[i];
    batch_means += sum / static_cast<double>(n) / 4.0;
  }
  expect_rel(eval_loss, mean, 1e-6, "the mean of the per-pair losses");
  // A plain average of the four batch means is another number here: the weighting is seen.
  EXPECT_GT(std::abs(batch_means - mean), 1e-4 * mean);
}

TEST(EvalCli, BadInputGivesClearMessages) {
  const std::string model = " --model " + (kFixtures / "llama" / "model").string();
  Exec missing = run_dpo("eval" + model + " --data /nonexistent/pairs.jsonl");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.err.find("/nonexistent/pairs.jsonl"), std::string::npos) << missing.err;

  fs::path bad = work_dir() / "bad.jsonl";
  std::ofstream(bad) << R"({"prompt_ids": [1, 2], "chosen_ids": [3, 2], "rejected_ids": [4, 2]})"
                     << "\n"
                     << R"({"prompt_ids": [1, 2], "chosen_ids": "oops", "rejected_ids": [4, 2]})"
                     << "\n";
  Exec bad_row = run_dpo("eval" + model + " --data " + bad.string());
  EXPECT_EQ(bad_row.status, 1);
  EXPECT_NE(bad_row.err.find(":2"), std::string::npos) << bad_row.err;
  EXPECT_NE(bad_row.err.find("chosen_ids"), std::string::npos) << bad_row.err;

  fs::path out_of_range = work_dir() / "range.jsonl";
  std::ofstream(out_of_range)
      << R"({"prompt_ids": [1, 2], "chosen_ids": [99999, 2], "rejected_ids": [4, 2]})"
      << "\n";
  Exec range = run_dpo("eval" + model + " --data " + out_of_range.string());
  EXPECT_EQ(range.status, 1);
  EXPECT_NE(range.err.find("99999"), std::string::npos) << range.err;

  fs::path good = pretokenized_rows("llama");
  Exec loss = run_dpo("eval" + model + " --data " + good.string() + " --loss-type sigmod");
  EXPECT_EQ(loss.status, 1);
  EXPECT_NE(loss.err.find("did you mean 'sigmoid'"), std::string::npos) << loss.err;
  Exec exo = run_dpo("eval" + model + " --data " + good.string() + " --loss-type exo_pair");
  EXPECT_EQ(exo.status, 1);
  EXPECT_NE(exo.err.find("label_smoothing > 0"), std::string::npos) << exo.err;
  Exec adapter =
      run_dpo("eval" + model + " --data " + good.string() + " --adapter /nonexistent/adapter");
  EXPECT_EQ(adapter.status, 1);
  EXPECT_NE(adapter.err.find("adapter folder not found"), std::string::npos) << adapter.err;
}

TEST(MergeCli, WritesAModelWhoseLogProbsAreThePolicys) {
  fs::path out = work_dir() / "merged";
  const std::string kind = "qwen2";
  Exec merge = run_dpo("merge --model " + (kFixtures / kind / "model").string() + " --adapter " +
                       (kFixtures / kind / "adapter").string() + " --output " + out.string() +
                       " --dtype f32 --max-shard-size 1MB");
  ASSERT_EQ(merge.status, 0) << merge.err;
  EXPECT_TRUE(fs::exists(out / "model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
  // The merged model evaluated without adapter: its log-probs are the adapter's policy log-probs.
  fs::path per_example = work_dir() / "merged_per_example.jsonl";
  Exec eval =
      run_dpo("eval --model " + out.string() + " --data " + pretokenized_rows(kind).string() +
              " --json --per-example " + per_example.string());
  ASSERT_EQ(eval.status, 0) << eval.err;
  std::istringstream lines(slurp(per_example));
  std::string line;
  std::getline(lines, line);
  expect_rel(nlohmann::json::parse(line)["policy_chosen_logps"],
             expected_of(kind)["dpo"]["policy_logps_chosen"][0], 1e-4, "merged policy log-prob");

  Exec same = run_dpo("merge --model " + (kFixtures / kind / "model").string() + " --adapter " +
                      (kFixtures / kind / "adapter").string() + " --output " +
                      (kFixtures / kind / "model").string());
  EXPECT_EQ(same.status, 1);
  EXPECT_NE(same.err.find("is the base model folder"), std::string::npos) << same.err;
  Exec size = run_dpo("merge --model " + (kFixtures / kind / "model").string() + " --adapter " +
                      (kFixtures / kind / "adapter").string() + " --output " + out.string() +
                      " --max-shard-size lots");
  EXPECT_EQ(size.status, 1);
  EXPECT_NE(size.err.find("--max-shard-size: 'lots' is not a size"), std::string::npos) << size.err;
  fs::remove_all(out);
}

// --per-example replaces an empty file or a previous --per-example output, and any other file
// only with --overwrite: eval never destroys a file it did not write.
TEST(EvalCli, PerExampleKeepsFilesItDidNotWrite) {
  const std::string kPairs = (fs::path(DPO_SOURCE_DIR) / "examples/data/tiny_pairs.jsonl").string();
  const fs::path file = work_dir() / "notes.jsonl";
  { std::ofstream(file) << "my notes\n"; }
  const std::string eval = "eval --model " + (kFixtures / "llama" / "model").string() + " --data " +
                           kPairs + " --max-samples 2 --per-example " + file.string();
  Exec refused = run_dpo(eval);
  EXPECT_EQ(refused.status, 1) << refused.err;
  EXPECT_NE(refused.err.find("--per-example " + file.string() +
                             " exists and is not a previous --per-example output; pass "
                             "--overwrite to replace it"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(slurp(file), "my notes\n");
  Exec replaced = run_dpo(eval + " --overwrite");
  ASSERT_EQ(replaced.status, 0) << replaced.err;
  Exec again = run_dpo(eval);  // a previous output: replaced without --overwrite
  ASSERT_EQ(again.status, 0) << again.err;
  const std::string rows = slurp(file);
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 2) << rows;
  Exec folder = run_dpo("eval --model " + (kFixtures / "llama" / "model").string() + " --data " +
                        kPairs + " --per-example " + work_dir().string());
  EXPECT_EQ(folder.status, 1);
  EXPECT_NE(folder.err.find("is a folder; give the path of the .jsonl file to write"),
            std::string::npos)
      << folder.err;
}

}  // namespace
