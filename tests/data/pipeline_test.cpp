#include "data/pipeline.h"

#include <gtest/gtest.h>

#include "data_test_util.h"

namespace dpo {
namespace {

using nlohmann::json;
using namespace dpo::testing;

std::string line(const json& row) {
  return row.dump() + "\n";
}

json hh_row(const std::string& question, const std::string& good, const std::string& bad) {
  std::string prompt = "\n\nHuman: " + question + "\n\nAssistant:";
  return {{"chosen", prompt + " " + good}, {"rejected", prompt + " " + bad}};
}

TEST(Pipeline, HhFileEndToEndWithDetection) {
  fs::path dir = temp_dir("hh");
  std::string path = write_text(dir / "hh.jsonl", line(hh_row("Capital?", "Dublin", "Cork")) +
                                                      line(hh_row("Sky?", "Blue", "Green")))
                         .string();
  DataOptions o;
  o.dataset = {path};
  TextEncoder enc = toy_encoder();
  DataReport report;
  auto examples = read_preference_examples(o.dataset, o, enc, nullptr, report);
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(report.format, DatasetFormat::kHh);
  EXPECT_TRUE(report.format_detected);
  EXPECT_EQ(report.rows, 2);
  EXPECT_EQ(examples[1].index, 1);
  TokenIds prompt = {1};
  for (TokenId id : toy_ids("\n\nHuman: Sky?\n\nAssistant:")) prompt.push_back(id);
  EXPECT_EQ(examples[1].prompt_ids, prompt);
  TokenIds chosen = toy_ids(" Blue");
  chosen.push_back(2);
  EXPECT_EQ(examples[1].chosen_ids, chosen);
  EXPECT_EQ(report.summary().find(path + ": detected format: hh (chosen/rejected with "
                                         "\\n\\nHuman:/\\n\\nAssistant: turns)\n"),
            0u);
  fs::remove_all(dir);
}

TEST(Pipeline, BadRowFailsWithPlaceOrIsDroppedAndCounted) {
  fs::path dir = temp_dir("bad");
  std::string good = line({{"prompt", "p"}, {"chosen", "c"}, {"rejected", "r"}});
  std::string path = write_text(dir / "d.jsonl",
                                good + line({{"prompt", "p"}, {"chosen", ""}, {"rejected", "r"}}) +
                                    "{broken\n" + line({{"prompt", "p"}, {"chosen", "c"}}) + good)
                         .string();
  DataOptions o;
  o.dataset = {path};
  TextEncoder enc = toy_encoder();
  DataReport report;
  EXPECT_EQ(user_error_of([&] { read_preference_examples(o.dataset, o, enc, nullptr, report); }),
            path +
                ":2: field 'chosen': expected a non-empty string, got an empty string (set "
                "drop_invalid_rows: true to skip such rows)");
  o.drop_invalid_rows = true;
  auto examples = read_preference_examples(o.dataset, o, enc, nullptr, report);
  EXPECT_EQ(examples.size(), 2u);
  EXPECT_EQ(report.rows, 5);
  EXPECT_EQ(report.invalid_rows, 3);
  EXPECT_EQ(report.invalid_by_reason,
            (std::map<std::string, int64_t>{
                {"empty field", 1}, {"invalid JSON", 1}, {"missing field", 1}}));
  EXPECT_EQ(examples[1].index, 4);
  EXPECT_NE(report.summary().find("  invalid: 1 x missing field"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Pipeline, TruncationCountsAndDrops) {
  fs::path dir = temp_dir("trunc");
  std::string path =
      write_text(dir / "d.jsonl",
                 line({{"prompt", "pp"}, {"chosen", "c"}, {"rejected", "r"}}) +
                     line({{"prompt", "pp"}, {"chosen", "cccccc"}, {"rejected", "r"}}) +
                     line({{"prompt", "pppppppppp"}, {"chosen", "c"}, {"rejected", "r"}}))
          .string();
  DataOptions o;
  o.dataset = {path};
  o.max_length = 6;  // BOS + 2 prompt tokens + up to 3 completion tokens
  TextEncoder enc = toy_encoder();
  DataReport report;
  auto examples = read_preference_examples(o.dataset, o, enc, nullptr, report);
  EXPECT_EQ(examples.size(), 2u);
  EXPECT_EQ(report.truncated_rows, 1);
  EXPECT_EQ(report.dropped_rows, 1);
  EXPECT_EQ(examples[1].chosen_ids, toy_ids("ccc"));
  fs::remove_all(dir);
}

TEST(Pipeline, EvalSplitIsSeededAndCapped) {
  fs::path dir = temp_dir("split");
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += line({{"prompt", "p" + std::to_string(i)}, {"chosen", "c"}, {"rejected", "r"}});
  std::string path = write_text(dir / "d.jsonl", text).string();
  DataOptions o;
  o.dataset = {path};
  o.eval_split_ratio = 0.1;
  o.seed = 1;
  TextEncoder enc = toy_encoder();
  PreferenceData a = load_preference_data(o, enc, nullptr),
                 b = load_preference_data(o, enc, nullptr);
  ASSERT_EQ(a.eval.size(), 10u);
  EXPECT_EQ(a.train.size(), 90u);
  auto indices = [](const std::vector<PreferenceExample>& v) {
    std::vector<int64_t> out;
    for (const auto& e : v) out.push_back(e.index);
    return out;
  };
  EXPECT_EQ(indices(a.eval), indices(b.eval));
  std::vector<int64_t> eval_indices = indices(a.eval);
  EXPECT_TRUE(std::is_sorted(eval_indices.begin(), eval_indices.end()));
  o.seed = 2;
  EXPECT_NE(indices(load_preference_data(o, enc, nullptr).eval), indices(a.eval));
  o.eval_max_samples = 3;
  PreferenceData capped = load_preference_data(o, enc, nullptr);
  EXPECT_EQ(capped.eval.size(), 3u);
  o.eval_split_ratio = 0;
  o.eval_dataset = {path};
  o.eval_max_samples = 5;
  PreferenceData given = load_preference_data(o, enc, nullptr);
  EXPECT_EQ(given.train.size(), 100u);
  EXPECT_EQ(indices(given.eval), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  fs::remove_all(dir);
}

TEST(Pipeline, ParallelTokenizationKeepsOrderAcrossBlocks) {
  fs::path dir = temp_dir("order");
  std::string text;
  for (int i = 0; i < 9000; ++i)
    text += line({{"prompt", std::to_string(i)}, {"chosen", "c"}, {"rejected", "r"}});
  std::string path = write_text(dir / "d.jsonl", text).string();
  DataOptions o;
  o.dataset = {path};
  o.threads = 2;
  TextEncoder enc = toy_encoder();
  DataReport report;
  auto examples = read_preference_examples(o.dataset, o, enc, nullptr, report);
  ASSERT_EQ(examples.size(), 9000u);
  for (int i = 0; i < 9000; ++i) {
    ASSERT_EQ(examples[i].index, i);
    TokenIds prompt = {1};
    for (TokenId id : toy_ids(std::to_string(i))) prompt.push_back(id);
    ASSERT_EQ(examples[i].prompt_ids, prompt);
  }
  o.max_rows = 10;
  EXPECT_EQ(read_preference_examples(o.dataset, o, enc, nullptr, report).size(), 10u);
  fs::remove_all(dir);
}

TEST(Pipeline, FormatKindAndEmptyDataErrors) {
  fs::path dir = temp_dir("kind");
  std::string path = write_text(dir / "d.jsonl", line({{"text", "x"}})).string();
  DataOptions o;
  o.dataset = {path};
  o.dataset_format = "text";
  TextEncoder enc = toy_encoder();
  EXPECT_EQ(user_error_of([&] { load_preference_data(o, enc, nullptr); }),
            "dataset_format: 'text' is an SFT format, but this run needs preference data (expected "
            "one of: auto, standard, conversational, implicit, hh, pretokenized)");
  SftData sft = load_sft_data(o, enc, nullptr);
  ASSERT_EQ(sft.train.size(), 1u);
  o.dataset_format = "auto";
  o.max_length = 1;
  o.truncation_mode = "keep_start";
  std::string pref =
      write_text(dir / "p.jsonl", line({{"prompt", "pp"}, {"chosen", "c"}, {"rejected", "r"}}))
          .string();
  o.dataset = {pref};
  EXPECT_EQ(user_error_of([&] { load_preference_data(o, enc, nullptr); }),
            pref + ": no usable rows (1 read, 0 invalid, 1 dropped by max_length 1)");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dpo

namespace dpo {
namespace {

using nlohmann::json;
using namespace dpo::testing;

TEST(Pipeline, SftMessagesAndChatPromptCompletion) {
  fs::path dir = temp_dir("sft");
  json user = {{"role", "user"}, {"content", "Q"}},
       assistant = {{"role", "assistant"}, {"content", "A"}};
  std::string messages =
      write_text(dir / "m.jsonl", json({{"messages", {user, assistant}}}).dump() + "\n").string();
  std::string pc = write_text(dir / "pc.jsonl",
                              json({{"prompt", {user}}, {"completion", {assistant}}}).dump() + "\n")
                       .string();
  DataOptions o;
  TextEncoder enc = toy_encoder();
  ChatRenderer render = toy_renderer();
  DataReport report;
  auto m = read_sft_examples({messages}, o, enc, &render, report);
  EXPECT_EQ(report.format, DatasetFormat::kMessages);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].prompt_ids.empty());
  EXPECT_EQ(m[0].completion_ids, toy_ids("<s>[user]Q</s>[assistant]A</s>"));
  auto p = read_sft_examples({pc}, o, enc, &render, report);
  EXPECT_EQ(report.format, DatasetFormat::kPromptCompletion);
  EXPECT_EQ(p[0].prompt_ids, toy_ids("<s>[user]Q</s>[assistant]"));
  EXPECT_EQ(p[0].completion_ids, toy_ids("A</s>"));
  fs::remove_all(dir);
}

TEST(Pipeline, GzipJsonSplitSpec) {
  fs::path dir = temp_dir("gz_split");
  json row = {{"prompt", "p"}, {"chosen", "c"}, {"rejected", "r"}};
  std::string path =
      write_gzip(dir / "d.json.gz", json({{"train", {row, row}}, {"test", {row}}}).dump()).string();
  DataOptions o;
  o.dataset = {path};
  o.eval_dataset = {path + ":test"};
  TextEncoder enc = toy_encoder();
  PreferenceData data = load_preference_data(o, enc, nullptr);
  EXPECT_EQ(data.train.size(), 2u);
  EXPECT_EQ(data.eval.size(), 1u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dpo

namespace dpo {
namespace {

using nlohmann::json;
using namespace dpo::testing;

// KTO's data: unpaired rows (detected by their label), bad labels, and pairs unpaired in TRL's
// order (each block of pairs: its chosen completions, then its rejected ones).
TEST(Pipeline, UnpairedRowsAndPairsUnpairedForKto) {
  fs::path dir = temp_dir("unpaired");
  std::string rows =
      write_text(dir / "u.jsonl",
                 line({{"prompt", "P"}, {"completion", "good"}, {"label", true}}) +
                     line({{"prompt", "Q"}, {"completion", "bad"}, {"label", false}}))
          .string();
  DataOptions o;
  o.dataset = {rows};
  TextEncoder enc = toy_encoder();
  UnpairedData data = load_unpaired_data(o, enc, nullptr);
  EXPECT_FALSE(data.from_pairs);
  EXPECT_EQ(data.train_report.format, DatasetFormat::kUnpaired);
  ASSERT_EQ(data.train.size(), 2u);
  EXPECT_TRUE(data.train[0].label);
  EXPECT_FALSE(data.train[1].label);
  TokenIds good = toy_ids("good");
  good.push_back(2);  // EOS
  EXPECT_EQ(data.train[0].completion_ids, good);

  std::string bad =
      write_text(dir / "bad.jsonl", line({{"prompt", "P"}, {"completion", "c"}, {"label", 1}}))
          .string();
  o.dataset = {bad};
  EXPECT_EQ(user_error_of([&] { load_unpaired_data(o, enc, nullptr); }),
            bad +
                ":1: field 'label': expected true or false (a JSON boolean: desirable or not), "
                "got 1 (set drop_invalid_rows: true to skip such rows)");
  o.dataset_format = "text";
  EXPECT_NE(user_error_of([&] {
              load_unpaired_data(o, enc, nullptr);
            }).find("dataset_format: 'text' is an SFT format, but KTO needs unpaired rows"),
            std::string::npos);

  std::string pairs =
      write_text(dir / "p.jsonl", line({{"prompt", "A"}, {"chosen", "a1"}, {"rejected", "a2"}}) +
                                      line({{"prompt", "B"}, {"chosen", "b1"}, {"rejected", "b2"}}))
          .string();
  o.dataset = {pairs};
  o.dataset_format = "auto";
  data = load_unpaired_data(o, enc, nullptr);
  EXPECT_TRUE(data.from_pairs);
  ASSERT_EQ(data.train.size(), 4u);
  const std::vector<std::string> completions = {"a1", "b1", "a2", "b2"};
  for (size_t i = 0; i < 4; ++i) {
    TokenIds want = toy_ids(completions[i]);
    want.push_back(2);
    EXPECT_EQ(data.train[i].completion_ids, want) << i;
    EXPECT_EQ(data.train[i].label, i < 2) << i;
    EXPECT_EQ(data.train[i].index, static_cast<int64_t>(i));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dpo
