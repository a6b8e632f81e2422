// GGUF tokenizer metadata -> tokenizer.json (transformers' GGUF tokenizer builders).
#include "io/gguf_tokenizer.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "util/error.h"

namespace dpo {

namespace {

using json = nlohmann::ordered_json;

constexpr int64_t kControl = 3, kUserDefined = 4;

std::vector<std::string> string_array(const GgufHeader& h, const std::string& key,
                                      const std::string& source, bool required) {
  std::vector<std::string> out;
  const GgufValue* v = h.find(key);
  if (!v) {
    if (required) throw_user_error("{}: key '{}' is missing", source, key);
    return out;
  }
  if (v->type != GgufType::kArray || v->element_type != GgufType::kString)
    throw_user_error("{}: key '{}': expected an array of strings", source, key);
  for (const auto& e : v->array) out.push_back(e.s);
  return out;
}

std::vector<double> number_array(const GgufHeader& h, const std::string& key, size_t n,
                                 const std::string& source) {
  std::vector<double> out;
  const GgufValue* v = h.find(key);
  if (!v) return out;
  if (v->type != GgufType::kArray || v->array.size() != n)
    throw_user_error("{}: key '{}': expected an array of {} numbers", source, key, n);
  for (const auto& e : v->array) out.push_back(e.as_number(source + ": key '" + key + "'"));
  return out;
}

// Code points of a UTF-8 string as byte offsets (Python slices strings by code point).
std::vector<size_t> char_starts(const std::string& s) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  return starts;
}

struct Merge {
  std::string left, right;
  double score;
  size_t left_chars, right_chars;
};

// transformers' generate_merges(vocab, vocab_scores): every split of every scored piece into two
// vocabulary pieces, by the pieces' ids within a piece, then (score, lengths) best first, stably.
std::vector<std::pair<std::string, std::string>> merges_from_scores(
    const std::vector<std::string>& tokens, const std::vector<double>& scores) {
  std::unordered_map<std::string, int64_t> vocab;
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = static_cast<int64_t>(i);
  // dict(zip(tokens, scores)): first occurrence order, last value.
  std::vector<std::string> order;
  std::unordered_map<std::string, double> score_of;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!score_of.count(tokens[i])) order.push_back(tokens[i]);
    score_of[tokens[i]] = scores[i];
  }
  std::vector<Merge> merges;
  for (const std::string& piece : order) {
    std::vector<size_t> starts = char_starts(piece);
    std::vector<Merge> local;
    for (size_t k = 1; k < starts.size(); ++k) {
      std::string l = piece.substr(0, starts[k]), r = piece.substr(starts[k]);
      if (vocab.count(l) && vocab.count(r))
        local.push_back({l, r, score_of[piece], k, starts.size() - k});
    }
    std::stable_sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      int64_t al = vocab[a.left], bl = vocab[b.left];
      return al != bl ? al < bl : vocab[a.right] < vocab[b.right];
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_chars != b.left_chars) return a.left_chars > b.left_chars;
    return a.right_chars > b.right_chars;
  });
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (auto& m : merges) out.emplace_back(std::move(m.left), std::move(m.right));
  return out;
}

std::vector<std::pair<std::string, std::string>> file_merges(const std::vector<std::string>& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& line : m) {
    size_t space = line.find(' ');
    out.emplace_back(line.substr(0, space),
                     space == std::string::npos ? "" : line.substr(space + 1));
  }
  return out;
}

// GPT-2's byte -> printable character table (bytes_to_unicode), as UTF-8 strings.
std::vector<std::string> byte_spelling() {
  std::vector<int> cps(256, -1);
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    cps[b] = printable ? b : next++;
  }
  std::vector<std::string> out(256);
  for (int b = 0; b < 256; ++b) {
    int cp = cps[b];
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    out[b] = s;
  }
  return out;
}

std::optional<int64_t> id_key(const GgufHeader& h, const std::string& key, size_t n,
                              const std::string& source) {
  const GgufValue* v = h.find(key);
  if (!v) return std::nullopt;
  int64_t id = v->as_int(source + ": key '" + key + "'");
  if (id < 0 || static_cast<size_t>(id) >= n)
    throw_user_error("{}: key '{}': token id {} is outside the vocabulary of {}", source, key, id,
                     n);
  return id;
}

json added_token(int64_t id, const std::string& content, bool special) {
  return json{{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
              {"rstrip", false}, {"normalized", false}, {"special", special}};
}

json template_processor(const std::optional<std::string>& bos,
                        const std::optional<std::string>& eos,
                        const std::map<std::string, int64_t>& ids) {
  json single = json::array(), pair = json::array(), specials = json::object();
  auto special = [&](const std::string& t, int type_id) {
    specials[t] = json{{"id", t}, {"ids", json::array({ids.at(t)})}, {"tokens", json::array({t})}};
    return json{{"SpecialToken", {{"id", t}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* id, int type_id) {
    return json{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
  };
  if (bos) single.push_back(special(*bos, 0));
  single.push_back(sequence("A", 0));
  if (eos) single.push_back(special(*eos, 0));
  if (bos) pair.push_back(special(*bos, 0));
  pair.push_back(sequence("A", 0));
  if (eos) pair.push_back(special(*eos, 0));
  if (bos) pair.push_back(special(*bos, 1));
  pair.push_back(sequence("B", 1));
  if (eos) pair.push_back(special(*eos, 1));
  return json{{"type", "TemplateProcessing"},
              {"single", single},
              {"pair", pair},
              {"special_tokens", specials}};
}

}  // namespace

GgufTokenizerFiles gguf_tokenizer_files(const GgufHeader& h, const std::string& source) {
  const GgufValue* model_value = h.find("tokenizer.ggml.model");
  if (!model_value)
    throw_user_error("{}: key 'tokenizer.ggml.model' is missing (no tokenizer in the file)",
                     source);
  const std::string model = model_value->as_string(source + ": key 'tokenizer.ggml.model'");
  if (model != "llama" && model != "gpt2")
    throw_user_error(
        "{}: key 'tokenizer.ggml.model': '{}' is not supported (supported: llama, gpt2)", source,
        model);
  std::vector<std::string> tokens = string_array(h, "tokenizer.ggml.tokens", source, true);
  if (tokens.empty()) throw_user_error("{}: key 'tokenizer.ggml.tokens' is empty", source);
  std::vector<double> types = number_array(h, "tokenizer.ggml.token_type", tokens.size(), source);
  std::vector<std::string> merges_text = string_array(h, "tokenizer.ggml.merges", source, false);

  const bool byte_level = model == "gpt2";
  json vocab = json::object();
  std::vector<std::string> spelled = tokens;
  if (byte_level) {
    // Tokens outside the byte alphabet are respelled byte by byte (transformers' rule).
    std::vector<std::string> spelling = byte_spelling();
    std::map<std::string, bool> alphabet;
    for (const auto& s : spelling) alphabet[s] = true;
    for (auto& t : spelled) {
      std::vector<size_t> starts = char_starts(t);
      bool inside = true;
      for (size_t k = 0; k < starts.size() && inside; ++k) {
        size_t end = k + 1 < starts.size() ? starts[k + 1] : t.size();
        inside = alphabet.count(t.substr(starts[k], end - starts[k])) > 0;
      }
      if (!inside) {
        std::string r;
        for (unsigned char c : t) r += spelling[c];
        t = r;
      }
    }
  }
  std::map<std::string, int64_t> ids;
  for (size_t i = 0; i < spelled.size(); ++i) ids[spelled[i]] = static_cast<int64_t>(i);
  // JSON object of the vocabulary in id order (a duplicate keeps its last id, as a Python dict).
  for (size_t i = 0; i < spelled.size(); ++i)
    if (ids[spelled[i]] == static_cast<int64_t>(i)) vocab[spelled[i]] = static_cast<int64_t>(i);

  std::vector<std::pair<std::string, std::string>> merges;
  if (!merges_text.empty()) {
    merges = file_merges(merges_text);
  } else if (!byte_level) {
    std::vector<double> scores = number_array(h, "tokenizer.ggml.scores", tokens.size(), source);
    if (scores.empty())
      throw_user_error("{}: key 'tokenizer.ggml.scores' is missing (needed to rebuild merges)",
                       source);
    merges = merges_from_scores(tokens, scores);
  }
  json merges_json = json::array();
  for (const auto& [l, r] : merges) merges_json.push_back(json::array({l, r}));

  json tok;
  tok["version"] = "1.0";
  tok["truncation"] = nullptr;
  tok["padding"] = nullptr;
  json added = json::array();
  for (size_t i = 0; i < types.size(); ++i) {
    const int64_t type = static_cast<int64_t>(types[i]);
    if (type == kControl && ids[spelled[i]] == static_cast<int64_t>(i) &&
        (!byte_level || spelled[i] == tokens[i]))
      added.push_back(added_token(static_cast<int64_t>(i), spelled[i], true));
    else if (type == kUserDefined && ids[spelled[i]] == static_cast<int64_t>(i))
      added.push_back(added_token(static_cast<int64_t>(i), spelled[i], false));
  }
  tok["added_tokens"] = added;
  tok["normalizer"] = nullptr;

  // Special tokens and whether they are added (transformers defaults add_bos to true for llama).
  auto token_of = [&](const char* key) -> std::optional<std::string> {
    auto id = id_key(h, key, tokens.size(), source);
    if (!id) return std::nullopt;
    return spelled[static_cast<size_t>(*id)];
  };
  std::optional<std::string> bos = token_of("tokenizer.ggml.bos_token_id"),
                             eos = token_of("tokenizer.ggml.eos_token_id"),
                             unk = token_of("tokenizer.ggml.unknown_token_id"),
                             pad = token_of("tokenizer.ggml.padding_token_id");
  auto flag = [&](const char* key, bool fallback) {
    const GgufValue* v = h.find(key);
    return v ? v->as_bool(source + ": key '" + key + "'") : fallback;
  };
  const bool add_bos = flag("tokenizer.ggml.add_bos_token", !byte_level) && bos;
  const bool add_eos = flag("tokenizer.ggml.add_eos_token", false) && eos;

  if (byte_level) {
    tok["pre_tokenizer"] = json{{"type", "ByteLevel"},
                                {"add_prefix_space", false},
                                {"trim_offsets", true},
                                {"use_regex", true}};
    const GgufValue* pre = h.find("tokenizer.ggml.pre");
    const std::string pre_name = pre && pre->type == GgufType::kString ? pre->s : "";
    static const std::string llama3 =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    static const std::string qwen2 =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    std::string split;
    if (pre_name == "llama3" || pre_name == "llama-v3" || pre_name == "llama-bpe" ||
        pre_name == "smaug-bpe" || pre_name == "dbrx")
      split = llama3;
    if (pre_name == "qwen2" || pre_name == "deepseek-r1-qwen") split = qwen2;
    if (!split.empty())
      tok["pre_tokenizer"] =
          json{{"type", "Sequence"},
               {"pretokenizers", json::array({json{{"type", "Split"},
                                                   {"pattern", {{"Regex", split}}},
                                                   {"behavior", "Isolated"},
                                                   {"invert", false}},
                                              json{{"type", "ByteLevel"},
                                                   {"add_prefix_space", false},
                                                   {"trim_offsets", true},
                                                   {"use_regex", false}}})}};
    tok["post_processor"] = json{{"type", "ByteLevel"},
                                 {"add_prefix_space", true},
                                 {"trim_offsets", false},
                                 {"use_regex", true}};
    if (add_bos || add_eos)
      tok["post_processor"] =
          template_processor(add_bos ? bos : std::nullopt, add_eos ? eos : std::nullopt, ids);
    tok["decoder"] = json{{"type", "ByteLevel"},
                          {"add_prefix_space", true},
                          {"trim_offsets", true},
                          {"use_regex", true}};
  } else {
    tok["pre_tokenizer"] = json{{"type", "Metaspace"},
                                {"replacement", "\xe2\x96\x81"},
                                {"prepend_scheme", "first"},
                                {"split", false}};
    tok["post_processor"] =
        template_processor(add_bos ? bos : std::nullopt, add_eos ? eos : std::nullopt, ids);
    tok["decoder"] =
        json{{"type", "Sequence"},
             {"decoders",
              json::array({json{{"type", "Replace"},
                                {"pattern", {{"String", "\xe2\x96\x81"}}},
                                {"content", " "}},
                           json{{"type", "ByteFallback"}}, json{{"type", "Fuse"}},
                           json{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}};
  }
  json m{{"type", "BPE"},
         {"dropout", nullptr},
         {"unk_token", nullptr},
         {"continuing_subword_prefix", nullptr},
         {"end_of_word_suffix", nullptr},
         {"fuse_unk", !byte_level},
         {"byte_fallback", !byte_level},
         {"ignore_merges", false},
         {"vocab", vocab},
         {"merges", merges_json}};
  tok["model"] = m;

  json config = json::object();
  config["add_bos_token"] = add_bos;
  config["add_eos_token"] = add_eos;
  auto put = [&](const char* name, const std::optional<std::string>& t) {
    config[name] = t ? json(*t) : json(nullptr);
  };
  put("bos_token", bos);
  put("eos_token", eos);
  put("unk_token", unk);
  put("pad_token", pad);
  if (const GgufValue* chat = h.find("tokenizer.chat_template"))
    config["chat_template"] = chat->as_string(source + ": key 'tokenizer.chat_template'");
  return {tok.dump(), config.dump()};
}

}  // namespace dpo
