// The pipeline with real tokenizers and chat templates: ids equal transformers' ids.
#include "data/model_data.h"

#include <gtest/gtest.h>

#include "data/inspect.h"
#include "data_test_util.h"
#include "util/fs.h"

namespace dpo {
namespace {

using nlohmann::json;
using namespace dpo::testing;

std::string tokenizer_dir(const std::string& label) {
  std::string name = label == "llama3" ? "llama3" : label == "qwen3" ? "qwen3" : "mistral";
  return std::string(DPO_FIXTURES) + "/tokenizers/" + name;
}

TokenIds ids_of(const json& list) {
  return list.get<TokenIds>();
}

// Every fixture conversation, fed to the pipeline as a conversational preference row:
//   ends with an assistant turn (add_generation_prompt false): prompt_ids + chosen_ids equal the
//   ids of the whole rendering; ends with a user turn (add_generation_prompt true): prompt_ids
//   equal the ids of the rendering with the generation prompt.
TEST(ModelData, ChatFixtureConversationsAsDatasetRows) {
  json all = json::parse(read_file(std::string(DPO_FIXTURES) + "/chat_template_cases.json"));
  fs::path dir = temp_dir("chat_cases");
  int checked = 0;
  for (auto& [label, entry] : all.items()) {
    Tokenizer tokenizer = Tokenizer::from_dir(tokenizer_dir(label));
    fs::path template_path = dir / (label + ".jinja");
    write_text(template_path, entry["template"].get<std::string>());
    std::string rows;
    std::vector<std::pair<bool, TokenIds>> expected;  // (whole conversation?, ids)
    for (const json& c : entry["cases"]) {
      const json& messages = c["messages"];
      std::string last_role = messages.back()["role"];
      bool whole = last_role == "assistant" && !c["add_generation_prompt"].get<bool>();
      bool prompt_only = last_role == "user" && c["add_generation_prompt"].get<bool>();
      if (!whole && !prompt_only) continue;
      json prompt = messages, chosen = json::array({{{"role", "assistant"}, {"content", "Yes."}}});
      if (whole) {
        prompt.erase(prompt.size() - 1);
        chosen = json::array({messages.back()});
      }
      json row = {{"prompt", prompt},
                  {"chosen", chosen},
                  {"rejected", json::array({{{"role", "assistant"}, {"content", "No."}}})}};
      rows += row.dump() + "\n";
      expected.push_back({whole, ids_of(c["ids"])});
    }
    std::string path = write_text(dir / (label + ".jsonl"), rows).string();
    DataOptions o;
    o.dataset = {path};
    o.max_length = 0;
    o.chat_template = template_path.string();
    PreferenceData data = load_preference_data(o, tokenizer);
    EXPECT_EQ(data.train_report.format, DatasetFormat::kConversational);
    ASSERT_EQ(data.train.size(), expected.size()) << label;
    for (size_t i = 0; i < expected.size(); ++i) {
      const PreferenceExample& e = data.train[i];
      TokenIds got = e.prompt_ids;
      if (expected[i].first) got.insert(got.end(), e.chosen_ids.begin(), e.chosen_ids.end());
      EXPECT_EQ(got, expected[i].second) << label << " case " << i;
      EXPECT_FALSE(e.chosen_ids.empty());
      ++checked;
    }
  }
  EXPECT_GE(checked, 12);
  fs::remove_all(dir);
}

TEST(ModelData, HhTextWithMistralTokenizer) {
  Tokenizer tokenizer = Tokenizer::from_dir(tokenizer_dir("mistral"));
  fs::path dir = temp_dir("hh_mistral");
  std::string prompt = "\n\nHuman: Is Dublin the capital of Ireland?\n\nAssistant:";
  std::string path = write_text(dir / "hh.jsonl", json({{"chosen", prompt + " Yes, it is."},
                                                        {"rejected", prompt + " Yes, Cork is."}})
                                                          .dump() +
                                                      "\n")
                         .string();
  DataOptions o;
  o.dataset = {path};
  PreferenceData data = load_preference_data(o, tokenizer);
  ASSERT_EQ(data.train.size(), 1u);
  const PreferenceExample& e = data.train[0];
  EXPECT_EQ(e.prompt_ids, tokenizer.encode(prompt, true));
  EXPECT_EQ(e.prompt_ids[0], 1);  // one BOS
  EXPECT_NE(e.prompt_ids[1], 1);
  TokenIds full = tokenizer.encode(prompt + " Yes, it is.</s>", true);
  EXPECT_EQ(e.chosen_ids,
            TokenIds(full.begin() + static_cast<long>(e.prompt_ids.size()), full.end()));
  EXPECT_EQ(e.chosen_ids.back(), 2);  // EOS
  EXPECT_EQ(tokenizer.id_to_token(e.chosen_ids[0]), "\u2581Yes");
  EXPECT_EQ(tokenizer.id_to_token(e.rejected_ids[0]), "\u2581Yes");
  // Inspection marks the boundary where it is: the answer keeps its leading space.
  TextEncoder enc = make_text_encoder(tokenizer);
  InspectResult r = inspect_preference_data(o, enc, nullptr, 1);
  ASSERT_EQ(r.examples.size(), 1u);
  EXPECT_EQ(r.examples[0], "<s> " + prompt + "\u27e6\u25b6\u27e7 Yes, it is.</s>");
  fs::remove_all(dir);
}

TEST(ModelData, HhToMessagesWithLlama2Template) {
  // The TinyLlama workflow: HH reformatted to Llama-2's "[INST] ... [/INST] ... </s>".
  Tokenizer tokenizer = Tokenizer::from_dir(tokenizer_dir("mistral"));
  fs::path dir = temp_dir("hh_llama2");
  std::string dialogue =
      "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Capital of Ireland?\n\nAssistant:";
  std::string path =
      write_text(
          dir / "hh.jsonl",
          json({{"chosen", dialogue + " Dublin."}, {"rejected", dialogue + " Cork."}}).dump() +
              "\n")
          .string();
  DataOptions o;
  o.dataset = {path};
  o.hh_to_messages = true;
  o.chat_template = "llama-2";
  PreferenceData data = load_preference_data(o, tokenizer);
  ASSERT_EQ(data.train.size(), 1u);
  const PreferenceExample& e = data.train[0];
  EXPECT_EQ(tokenizer.decode(e.prompt_ids),
            "<s> [INST] Hi [/INST] Hello! </s><s> [INST] Capital of Ireland? [/INST]");
  EXPECT_EQ(e.prompt_ids,
            tokenizer.encode(
                "<s>[INST] Hi [/INST] Hello! </s><s>[INST] Capital of Ireland? [/INST]", false));
  TokenIds full = tokenizer.encode(
      "<s>[INST] Hi [/INST] Hello! </s><s>[INST] Capital of Ireland? [/INST] Dublin. </s>", false);
  EXPECT_EQ(e.chosen_ids,
            TokenIds(full.begin() + static_cast<long>(e.prompt_ids.size()), full.end()));
  EXPECT_EQ(e.chosen_ids.back(), 2);
  EXPECT_EQ(std::count(e.prompt_ids.begin(), e.prompt_ids.end(), 1),
            2);  // one BOS per turn, none doubled
  EXPECT_EQ(user_error_of([&] {
              DataOptions bad = o;
              bad.chat_template = "llama-9";
              load_preference_data(bad, tokenizer);
            }),
            "chat_template: 'llama-9' is neither a file nor a built-in template (expected auto, "
            "llama-2, zephyr, chatml, llama-3 or the path of a Jinja file)");
  fs::remove_all(dir);
}

TEST(Inspect, CountsPercentilesAndJson) {
  fs::path dir = temp_dir("inspect");
  std::string text;
  for (int i = 1; i <= 10; ++i)
    text += json({{"prompt", std::string(static_cast<size_t>(i), 'p')},
                  {"chosen", "cc"},
                  {"rejected", "r"}})
                .dump() +
            "\n";
  text += "{\"prompt\": \"p\", \"chosen\": 5, \"rejected\": \"r\"}\n";
  std::string path = write_text(dir / "d.jsonl", text).string();
  DataOptions o;
  o.dataset = {path};
  o.max_length = 8;
  TextEncoder enc = toy_encoder();
  InspectResult r = inspect_preference_data(o, enc, nullptr);
  EXPECT_EQ(r.report.rows, 11);
  EXPECT_EQ(r.report.invalid_rows, 1);
  // prompt lengths 2..11 (BOS + i), chosen 3 (cc + EOS), rejected 2.
  EXPECT_EQ(r.prompt.p50, 6);
  EXPECT_EQ(r.prompt.p90, 10);
  EXPECT_EQ(r.prompt.p99, 11);
  EXPECT_EQ(r.prompt.max, 11);
  EXPECT_EQ(r.chosen.max, 3);
  EXPECT_EQ(r.dropped_rows, 4);    // prompt 8..11 >= 8
  EXPECT_EQ(r.truncated_rows, 2);  // prompt 6 (chosen cut to 2), 7 (both cut to 1)
  ASSERT_EQ(r.examples.size(), 2u);
  auto j = inspect_json(r);
  EXPECT_EQ(j["format"], "standard");
  EXPECT_EQ(j["rows"], 11);
  EXPECT_EQ(j["invalid_rows"], 1);
  EXPECT_EQ(j["invalid_by_reason"]["wrong type"], 1);
  EXPECT_EQ(j["truncated_rows"], 2);
  EXPECT_EQ(j["dropped_rows"], 4);
  EXPECT_EQ(j["lengths"]["prompt"]["p90"], 10);
  EXPECT_NE(
      inspect_text(r).find("with max_length 8 (keep_start): 2 rows truncated, 4 rows dropped"),
      std::string::npos);
  TextEncoder bytes = byte_encoder();
  InspectResult b = inspect_preference_data(o, bytes, nullptr);
  EXPECT_EQ(b.examples[0], "p\u27e6\u25b6\u27e7cc");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dpo
