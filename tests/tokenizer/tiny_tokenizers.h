// Small tokenizer.json documents built in code for the tokenizer tests.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace dpo::test {

using nlohmann::json;

// A BPE model over `tokens` (id = position) with `merges` as "a b" strings.
inline json tiny_bpe(const std::vector<std::string>& tokens, const std::vector<std::string>& merges,
                     json model_extra = json::object()) {
  json vocab = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = static_cast<int>(i);
  json model = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  for (auto& [key, value] : model_extra.items()) model[key] = value;
  return json{{"version", "1.0"},
              {"model", model},
              {"normalizer", nullptr},
              {"pre_tokenizer", nullptr},
              {"added_tokens", json::array()},
              {"post_processor", nullptr},
              {"decoder", nullptr}};
}

inline json added_token(int id, const std::string& content, bool special,
                        json extra = json::object()) {
  json token = {{"id", id},          {"content", content}, {"single_word", false},
                {"lstrip", false},   {"rstrip", false},    {"normalized", !special},
                {"special", special}};
  for (auto& [key, value] : extra.items()) token[key] = value;
  return token;
}

// A document that uses one of every supported component (for fuzzing the loader).
inline json kitchen_sink() {
  json doc = tiny_bpe({"<unk>", "<s>", "</s>", "\u2581", "a", "b", "c", "\u2581a", "ab", "<0x41>",
                       "<0xC3>", "<0xA9>"},
                      {"\u2581 a", "a b"},
                      {{"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true}});
  doc["normalizer"] =
      json::parse(R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"},
      {"type": "Strip", "strip_left": false, "strip_right": true}, {"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"Regex": " +"}, "content": "\u2581"}]})");
  doc["pre_tokenizer"] = json::parse(R"JSON({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}|\\s+(?!\\S)"}, "behavior": "Isolated", "invert": false},
      {"type": "Digits", "individual_digits": true}, {"type": "Punctuation", "behavior": "Contiguous"},
      {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": true}]})JSON");
  doc["post_processor"] = json::parse(R"({"type": "Sequence", "processors": [{"type": "ByteLevel"},
      {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
       "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}]})");
  doc["decoder"] = json::parse(
      R"({"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})");
  doc["added_tokens"] = {added_token(0, "<unk>", true), added_token(1, "<s>", true),
                         added_token(2, "</s>", true, {{"lstrip", true}})};
  return doc;
}

}  // namespace dpo::test
