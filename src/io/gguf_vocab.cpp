// Tokenizer metadata for GGUF (gguf-py's LlamaHfVocab / get_vocab_base and SpecialVocab rules).
#include "io/gguf_vocab.h"

#include <algorithm>

#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"

namespace dpo {

namespace {

using json = nlohmann::json;

enum TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

json read_json(const fs::path& path) {
  json j = json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    throw_user_error("{}: expected a JSON object", path.string());
  return j;
}

// A special token entry of tokenizer_config.json: "text" or {"content": "text"}.
std::string token_text(const json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string())
    return entry["content"].get<std::string>();
  return "";
}

std::string special_first_id(const json& tmpl) {
  if (!tmpl.is_object() || !tmpl.contains("SpecialToken")) return "";
  const json& s = tmpl["SpecialToken"];
  return s.is_object() && s.contains("id") && s["id"].is_string() ? s["id"].get<std::string>() : "";
}
std::string sequence_id(const json& tmpl) {
  if (!tmpl.is_object() || !tmpl.contains("Sequence")) return "";
  const json& s = tmpl["Sequence"];
  return s.is_object() && s.contains("id") && s["id"].is_string() ? s["id"].get<std::string>() : "";
}

// add_bos / add_sep / add_eos from a post-processor (SpecialVocab's reading: TemplateProcessing,
// RobertaProcessing, ByteLevel's defaults of false), in the order they are set.
void template_flags(const json& processor, const std::string& bos, const std::string& eos,
                    const std::string& sep, std::vector<std::pair<std::string, bool>>& flags) {
  auto set = [&](const std::string& k, bool v) {
    for (auto& [key, value] : flags)
      if (key == k) {
        value = v;
        return;
      }
    flags.emplace_back(k, v);
  };
  if (processor.value("type", "") == "ByteLevel") {  // adds no special token, unless another says
    for (const char* kind : {"bos", "eos"})
      if (std::none_of(flags.begin(), flags.end(), [&](const auto& f) { return f.first == kind; }))
        flags.emplace_back(kind, false);
    return;
  }
  if (processor.value("type", "") == "RobertaProcessing") {
    set("bos", true), set("eos", true), set("sep", true);
    return;
  }
  if (processor.value("type", "") != "TemplateProcessing") return;
  json single = processor.value("single", json::array()),
       pair = processor.value("pair", json::array());
  std::string first, last;
  if (single.is_array() && single.size() > 1) {
    first = special_first_id(single.front());
    if (!first.empty()) set("bos", first == bos);
    last = special_first_id(single.back());
    if (!last.empty()) set("eos", last == eos);
  }
  if (!pair.is_array() || pair.empty()) return;
  size_t start = !first.empty() && special_first_id(pair.front()) == first ? 1 : 0;
  size_t stop =
      !last.empty() && special_first_id(pair.back()) == last ? pair.size() - 1 : pair.size();
  if (stop <= start) return;
  std::vector<json> middle(pair.begin() + static_cast<std::ptrdiff_t>(start),
                           pair.begin() + static_cast<std::ptrdiff_t>(stop));
  if (sequence_id(middle.front()) != "A" || sequence_id(middle.back()) != "B") return;
  if (middle.size() <= 2) return;
  middle = std::vector<json>(middle.begin() + 1, middle.end() - 1);
  bool add_sep = false;
  std::string entry = special_first_id(middle[0]);
  if (!entry.empty() && (entry == sep || entry == eos) && last.empty()) add_sep = true;
  if (middle.size() == 2) {
    entry = special_first_id(middle[1]);
    if (!entry.empty() && (entry == sep || entry == eos)) add_sep = true;
  }
  set("sep", add_sep);
}

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;  // llama only
  std::vector<int32_t> types;
};

bool looks_special(const std::string& t) {
  auto ends = [&](const std::string& s) {
    return t.size() >= s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0;
  };
  auto starts = [&](const std::string& s) { return t.rfind(s, 0) == 0; };
  return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" ||
         (starts("<|") && ends("|>")) || (starts("<\xef\xbd\x9c") && ends("\xef\xbd\x9c>")) ||
         (starts("<unused") && ends(">"));
}

// id -> (content, special) of tokenizer.json's added_tokens.
std::map<int64_t, std::pair<std::string, bool>> added_tokens(const json& tok,
                                                             const fs::path& file) {
  std::map<int64_t, std::pair<std::string, bool>> out;
  if (!tok.contains("added_tokens")) return out;
  if (!tok["added_tokens"].is_array())
    throw_user_error("{}: key \"added_tokens\": expected a list", file.string());
  for (const auto& a : tok["added_tokens"]) {
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        !a.contains("content") || !a["content"].is_string())
      throw_user_error(
          "{}: key \"added_tokens\": expected objects with an integer id and a "
          "string content",
          file.string());
    out[a["id"].get<int64_t>()] = {a["content"].get<std::string>(), a.value("special", false)};
  }
  return out;
}

std::map<int64_t, std::string> base_vocab(const json& model, const fs::path& file) {
  if (!model.contains("vocab") || !model["vocab"].is_object())
    throw_user_error("{}: key \"model.vocab\": expected an object of token -> id", file.string());
  std::map<int64_t, std::string> out;
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0)
      throw_user_error("{}: key \"model.vocab\": token '{}' has no non-negative integer id",
                       file.string(), text);
    out[id.get<int64_t>()] = text;
  }
  return out;
}

// LlamaHfVocab: the base vocab in id order, then added tokens past it. Scores are all -1000.
Vocab llama_vocab(const json& tok, const std::set<int64_t>& special_ids, const fs::path& file) {
  std::map<int64_t, std::string> base = base_vocab(tok["model"], file);
  auto added = added_tokens(tok, file);
  Vocab v;
  const int64_t base_size = static_cast<int64_t>(base.size());
  static const std::regex byte_token("<0x[0-9A-Fa-f]{2}>");
  for (int64_t id = 0; id < base_size; ++id) {
    auto it = base.find(id);
    if (it == base.end())
      throw_user_error("{}: key \"model.vocab\": ids are not contiguous (id {} is missing)",
                       file.string(), id);
    v.tokens.push_back(it->second);
    v.scores.push_back(-1000.0f);
    v.types.push_back(std::regex_match(it->second, byte_token) ? kByte
                      : special_ids.count(id)                  ? kControl
                                                               : kNormal);
  }
  for (const auto& [id, entry] : added) {
    if (id < base_size) continue;
    if (id != static_cast<int64_t>(v.tokens.size()))
      throw_user_error("{}: added token '{}' has id {}, expected {} (ids must follow the vocab)",
                       file.string(), entry.first, id, v.tokens.size());
    v.tokens.push_back(entry.first);
    v.scores.push_back(-1000.0f);
    v.types.push_back(special_ids.count(id) ? kControl : kUserDefined);
  }
  return v;
}

// get_vocab_base (gpt2): ids 0..vocab_size-1, holes as [PADi], added tokens CONTROL or
// USER_DEFINED.
Vocab bpe_vocab(const json& tok, int64_t vocab_size, const fs::path& file) {
  std::map<int64_t, std::string> all = base_vocab(tok["model"], file);
  auto added = added_tokens(tok, file);
  for (const auto& [id, entry] : added) all[id] = entry.first;
  if (!all.empty() && all.rbegin()->first >= vocab_size)
    throw_user_error("{}: token id {} is not below config.json's vocab_size {}", file.string(),
                     all.rbegin()->first, vocab_size);
  Vocab v;
  for (int64_t id = 0; id < vocab_size; ++id) {
    auto it = all.find(id);
    if (it == all.end()) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.types.push_back(kUnused);
      continue;
    }
    std::string text = it->second;
    auto a = added.find(id);
    if (a == added.end()) {
      v.types.push_back(kNormal);
    } else if (a->second.second || looks_special(text)) {
      v.types.push_back(kControl);
    } else {
      for (size_t p = 0; (p = text.find("\xe2\x96\x81", p)) != std::string::npos;)
        text.replace(p, 3, " ");
      v.types.push_back(kUserDefined);
    }
    v.tokens.push_back(text);
  }
  return v;
}

std::vector<std::string> bpe_merges(const json& model, const fs::path& file) {
  std::vector<std::string> out;
  if (!model.contains("merges") || !model["merges"].is_array()) return out;
  for (const auto& m : model["merges"]) {
    if (m.is_string()) {
      out.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      std::string parts[2];
      for (int k = 0; k < 2; ++k)
        for (char ch : m[k].get<std::string>())
          parts[k] += ch == ' ' ? std::string("\xc4\xa0") : std::string(1, ch);
      out.push_back(parts[0] + " " + parts[1]);
    } else {
      throw_user_error("{}: key \"model.merges\": expected strings or pairs of strings",
                       file.string());
    }
  }
  return out;
}

}  // namespace

std::string gguf_bpe_pre_name(const std::string& text) {
  // The split regexes of the well-known byte-level tokenizers.
  static const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::string qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  json tok = json::parse(text, nullptr, false);
  if (!tok.is_object() || !tok.contains("pre_tokenizer")) return "default";
  const json& pre = tok["pre_tokenizer"];
  std::vector<json> parts;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers") &&
      pre["pretokenizers"].is_array())
    for (const auto& p : pre["pretokenizers"]) parts.push_back(p);
  else
    parts.push_back(pre);
  for (const auto& p : parts) {
    if (!p.is_object()) continue;
    if (p.value("type", "") == "Split" && p.contains("pattern") && p["pattern"].is_object()) {
      std::string regex = p["pattern"].value("Regex", "");
      if (regex == llama3) return "llama-bpe";
      if (regex == qwen2) return "qwen2";
    }
  }
  if (parts.size() == 1 && parts[0].is_object() && parts[0].value("type", "") == "ByteLevel" &&
      parts[0].value("use_regex", true))
    return "gpt-2";
  return "default";
}

void add_gguf_tokenizer(GgufWriter& w, const fs::path& dir, int64_t vocab_size,
                        const std::string& arch) {
  const fs::path tok_file = dir / "tokenizer.json";
  if (!fs::exists(tok_file))
    throw_user_error("{}: not found; GGUF export needs the model's tokenizer.json",
                     tok_file.string());
  const std::string tok_text = read_file(tok_file);
  json tok = json::parse(tok_text, nullptr, false);
  if (tok.is_discarded() || !tok.is_object() || !tok.contains("model") || !tok["model"].is_object())
    throw_user_error("{}: expected a JSON object with a \"model\" object", tok_file.string());
  const json& model = tok["model"];
  json config = fs::exists(dir / "tokenizer_config.json") ? read_json(dir / "tokenizer_config.json")
                                                          : json::object();
  json model_config =
      fs::exists(dir / "config.json") ? read_json(dir / "config.json") : json::object();

  const std::string type = model.value("type", "");
  const bool spm_bpe = type == "BPE" && model.value("byte_fallback", false) &&
                       tok.contains("decoder") && tok["decoder"].is_object() &&
                       tok["decoder"].value("type", "") == "Sequence";
  if (type != "BPE")
    throw_user_error(
        "{}: tokenizer model '{}' cannot be exported as GGUF (supported: BPE, "
        "SentencePiece-style or byte-level)",
        tok_file.string(), type);

  // Special token ids: tokenizer_config.json's {typ}_token matched against added_tokens, then
  // config.json's {typ}_token_id (SpecialVocab, in its order of types).
  auto added = added_tokens(tok, tok_file);
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
      {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
      {"pad", "tokenizer.ggml.padding_token_id"}, {"cls", ""},
      {"mask", "tokenizer.ggml.mask_token_id"}};
  std::map<std::string, std::string> texts;
  for (const auto& [kind, key] : kinds)
    if (config.contains(kind + "_token")) texts[kind] = token_text(config[kind + "_token"]);
  if (texts["bos"].empty() && !texts["cls"].empty()) texts["bos"] = texts["cls"];
  if (texts["eos"].empty() && !texts["sep"].empty()) texts["eos"] = texts["sep"];

  std::vector<std::pair<std::string, bool>> flags;  // add_bos / add_sep / add_eos, in order
  if (tok.contains("post_processor") && tok["post_processor"].is_object()) {
    const json& pp = tok["post_processor"];
    std::vector<json> procs;
    if (pp.contains("processors") && pp["processors"].is_array())
      for (const auto& p : pp["processors"]) procs.push_back(p);
    else
      procs.push_back(pp);
    for (const auto& p : procs)
      if (p.is_object()) template_flags(p, texts["bos"], texts["eos"], texts["sep"], flags);
  }
  std::map<std::string, int64_t> ids;
  std::vector<std::string> id_order;
  for (const auto& [kind, key] : kinds) {
    if (key.empty() || texts[kind].empty()) continue;
    for (const auto& [id, entry] : added)
      if (entry.first == texts[kind]) {
        ids[kind] = id;
        id_order.push_back(kind);
        break;
      }
  }
  for (const auto& [kind, key] : kinds) {
    if (key.empty() || ids.count(kind)) continue;
    std::string k = kind + "_token_id";
    if (model_config.contains(k) && model_config[k].is_number_integer() &&
        model_config[k].get<int64_t>() >= 0) {
      ids[kind] = model_config[k].get<int64_t>();
      id_order.push_back(kind);
    }
  }
  for (const char* kind : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
    std::string k = std::string("add_") + kind + "_token";
    if (config.contains(k) && config[k].is_boolean()) {
      bool found = false;
      for (auto& [key, value] : flags)
        if (key == kind) value = config[k].get<bool>(), found = true;
      if (!found) flags.emplace_back(kind, config[k].get<bool>());
    }
  }

  Vocab vocab;
  if (spm_bpe) {
    std::set<int64_t> special_ids;
    for (const auto& [id, entry] : added)
      if (entry.second) special_ids.insert(id);
    for (const auto& [kind, id] : ids) special_ids.insert(id);
    vocab = llama_vocab(tok, special_ids, tok_file);
    if (arch == "llama" && config.contains("add_prefix_space") &&
        config["add_prefix_space"].is_boolean())
      w.add("tokenizer.ggml.add_space_prefix",
            GgufValue::boolean(config["add_prefix_space"].get<bool>()));
    w.add("tokenizer.ggml.model", GgufValue::str("llama"));
    w.add("tokenizer.ggml.pre", GgufValue::str("default"));
    w.add("tokenizer.ggml.tokens", GgufValue::strings(vocab.tokens));
    w.add("tokenizer.ggml.scores", GgufValue::f32s(vocab.scores));
    w.add("tokenizer.ggml.token_type", GgufValue::i32s(vocab.types));
  } else {
    vocab = bpe_vocab(tok, vocab_size, tok_file);
    std::string pre = gguf_bpe_pre_name(tok_text);
    if (pre == "default")
      log_warn(
          "{}: byte-level BPE pre-tokenizer not recognized; writing tokenizer.ggml.pre "
          "'default'",
          tok_file.string());
    w.add("tokenizer.ggml.model", GgufValue::str("gpt2"));
    w.add("tokenizer.ggml.pre", GgufValue::str(pre));
    w.add("tokenizer.ggml.tokens", GgufValue::strings(vocab.tokens));
    w.add("tokenizer.ggml.token_type", GgufValue::i32s(vocab.types));
    std::vector<std::string> merges = bpe_merges(model, tok_file);
    if (!merges.empty()) w.add("tokenizer.ggml.merges", GgufValue::strings(merges));
  }
  const int64_t n_tokens = static_cast<int64_t>(vocab.tokens.size());
  for (const auto& kind : id_order) {
    for (const auto& [k, key] : kinds)
      if (k == kind && ids[kind] < n_tokens)
        w.add(key, GgufValue::u32(static_cast<uint32_t>(ids[kind])));
  }
  for (const auto& [kind, value] : flags) {
    if (kind != "bos" && kind != "eos" && kind != "sep") continue;  // gguf-py has no other handler
    w.add("tokenizer.ggml.add_" + kind + "_token", GgufValue::boolean(value));
  }

  // Chat template: tokenizer_config.json's, else chat_template.jinja, else chat_template.json.
  std::string chat;
  if (config.contains("chat_template") && config["chat_template"].is_string()) {
    chat = config["chat_template"].get<std::string>();
  } else if (fs::exists(dir / "chat_template.jinja")) {
    chat = read_file(dir / "chat_template.jinja");
  } else if (fs::exists(dir / "chat_template.json")) {
    json j = read_json(dir / "chat_template.json");
    if (j.contains("chat_template") && j["chat_template"].is_string())
      chat = j["chat_template"].get<std::string>();
  }
  if (!chat.empty()) w.add("tokenizer.chat_template", GgufValue::str(chat));
}

}  // namespace dpo
