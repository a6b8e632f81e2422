// Every error a user can trigger with a tokenizer folder: the message names the file, the JSON
// path and the value.
#include <gtest/gtest.h>

#include "test_helpers.h"
#include "tiny_tokenizers.h"
#include "util/error.h"

namespace dpo {
namespace {

using test::json;

std::string load_error(const std::string& tokenizer_json, const std::string& config = "") {
  try {
    Tokenizer::from_json(tokenizer_json, config);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string load_error(const json& doc, const json& config = json()) {
  return load_error(doc.dump(), config.is_null() ? "" : config.dump());
}

json with(const std::string& key, const json& value) {
  json doc = test::kitchen_sink();
  doc[key] = value;
  return doc;
}

TEST(TokenizerErrors, UnsupportedComponentsNameTheJsonPath) {
  json doc = test::kitchen_sink();
  doc["pre_tokenizer"]["pretokenizers"][1]["type"] = "Foo";
  EXPECT_EQ(load_error(doc),
            "tokenizer.json: pre_tokenizer.pretokenizers[1].type = \"Foo\" is not supported");
  EXPECT_EQ(load_error(with("normalizer", {{"type", "Precompiled"}})),
            "tokenizer.json: normalizer.type = \"Precompiled\" is not supported");
  EXPECT_EQ(load_error(with("decoder",
                            json::parse(R"({"type": "Sequence", "decoders": [{"type": "CTC"}]})"))),
            "tokenizer.json: decoder.decoders[0].type = \"CTC\" is not supported");
  EXPECT_EQ(load_error(with("post_processor", {{"type", "Foo"}})),
            "tokenizer.json: post_processor.type = \"Foo\" is not supported");
  json unigram = test::kitchen_sink();
  unigram["model"]["type"] = "Unigram";
  EXPECT_EQ(load_error(unigram), "tokenizer.json: model.type = \"Unigram\" is not supported");
  json dropout = test::kitchen_sink();
  dropout["model"]["dropout"] = 0.1;
  EXPECT_EQ(load_error(dropout), "tokenizer.json: model.dropout = 0.1 is not supported");
  json behavior = test::kitchen_sink();
  behavior["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sometimes";
  EXPECT_EQ(
      load_error(behavior),
      "tokenizer.json: pre_tokenizer.pretokenizers[0].behavior = \"Sometimes\" is not supported");
  json scheme = test::kitchen_sink();
  scheme["pre_tokenizer"]["pretokenizers"][3]["prepend_scheme"] = "sometimes";
  EXPECT_EQ(load_error(scheme),
            "tokenizer.json: pre_tokenizer.pretokenizers[3].prepend_scheme = \"sometimes\" is not "
            "supported");
}

TEST(TokenizerErrors, BadValues) {
  EXPECT_EQ(load_error(std::string("{\"model\": ")).rfind("tokenizer.json: not valid JSON (", 0),
            0u);
  EXPECT_EQ(load_error(json::array()), "tokenizer.json: expected a JSON object at the top level");
  EXPECT_EQ(load_error(json{{"version", "1.0"}}), "tokenizer.json: model is missing");
  json merges = test::kitchen_sink();
  merges["model"]["merges"][1] = "a zz";
  EXPECT_EQ(load_error(merges),
            "tokenizer.json: model.merges[1] = \"a zz\": token 'zz' is not in the vocab");
  merges["model"]["merges"][1] = "a b c";
  EXPECT_EQ(
      load_error(merges),
      "tokenizer.json: model.merges[1] = \"a b c\": expected two tokens separated by one space");
  json vocab = test::kitchen_sink();
  vocab["model"]["vocab"]["a"] = "four";
  EXPECT_EQ(load_error(vocab),
            "tokenizer.json: model.vocab[\"a\"] = \"four\": expected a token id (integer >= 0)");
  json regex = test::kitchen_sink();
  regex["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_NE(load_error(regex).find(
                "tokenizer.json: pre_tokenizer.pretokenizers[0].pattern.Regex = \"(unclosed\": "
                "bad regular expression at offset 9"),
            std::string::npos);
  json pattern = test::kitchen_sink();
  pattern["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Glob", "*"}};
  EXPECT_EQ(load_error(pattern),
            "tokenizer.json: pre_tokenizer.pretokenizers[0].pattern = {\"Glob\":\"*\"}: expected "
            "{\"String\": ...} or {\"Regex\": ...}");
  json added = test::kitchen_sink();
  added["added_tokens"][0]["id"] = -3;
  EXPECT_EQ(load_error(added),
            "tokenizer.json: added_tokens[0].id = -3: expected a token id (integer >= 0)");
  json replacement = test::kitchen_sink();
  replacement["pre_tokenizer"]["pretokenizers"][3]["replacement"] = "ab";
  EXPECT_EQ(load_error(replacement),
            "tokenizer.json: pre_tokenizer.pretokenizers[3].replacement = \"ab\": expected a "
            "single character");
  json special = test::kitchen_sink();
  special["post_processor"]["processors"][1]["single"][0]["SpecialToken"]["id"] = "<bos>";
  EXPECT_EQ(load_error(special),
            "tokenizer.json: post_processor.processors[1].single[0] uses special token \"<bos>\" "
            "missing from post_processor.processors[1].special_tokens");
}

TEST(TokenizerErrors, ConfigFiles) {
  json doc = test::kitchen_sink();
  EXPECT_EQ(load_error(doc.dump(), "{not json").rfind("tokenizer_config.json: not valid JSON (", 0),
            0u);
  EXPECT_EQ(load_error(doc, json{{"bos_token", 5}}),
            "tokenizer_config.json: bos_token = 5: expected a token string or {\"content\": ...}");
  EXPECT_EQ(load_error(doc, json{{"chat_template", 3}}),
            "tokenizer_config.json: chat_template must be a string or a list of {name, template}");
  EXPECT_EQ(
      load_error(doc, json{{"added_tokens_decoder", {{"x", {{"content", "<y>"}}}}}}),
      "tokenizer_config.json: added_tokens_decoder.x must map a token id to {\"content\": ...}");
  try {
    Tokenizer::from_dir("/nonexistent/model");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "/nonexistent/model: folder does not exist (expected a folder with tokenizer.json)");
  }
}

}  // namespace
}  // namespace dpo
