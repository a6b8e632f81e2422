// Loading tokenizer.json, tokenizer_config.json and special_tokens_map.json.
#include <filesystem>

#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

namespace dpo {

using tok::json;
using tok::JsonNode;

namespace {

// A token in tokenizer_config.json: "<s>", {"content": "<s>", ...}, or null.
std::string config_token(const json& config, const std::string& key, const std::string& source) {
  if (!config.contains(key) || config[key].is_null()) return "";
  const json& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  throw_user_error("{}: {} = {}: expected a token string or {{\"content\": ...}}", source, key,
                   value.dump().substr(0, 80));
}

bool contains_byte_level(const json& node) {
  if (node.is_object()) {
    if (node.contains("type") && node["type"] == "ByteLevel") return true;
    for (const auto& item : node.items())
      if (contains_byte_level(item.value())) return true;
  } else if (node.is_array()) {
    for (const auto& item : node)
      if (contains_byte_level(item)) return true;
  }
  return false;
}

std::string sibling_name(const std::string& source, const std::string& name) {
  std::filesystem::path path(source);
  return path.has_parent_path() ? (path.parent_path() / name).string() : name;
}

}  // namespace

TokenizerImpl::TokenizerImpl(const std::string& tokenizer_json, const std::string& config_json,
                             const std::string& special_tokens_map_json, const std::string& source)
    : source_(source) {
  load_tokenizer_json(tokenizer_json);
  json config;
  if (!config_json.empty())
    config = load_config(config_json, sibling_name(source, "tokenizer_config.json"));
  if (!special_tokens_map_json.empty()) load_special_tokens_map(special_tokens_map_json);
  if (config.is_object()) apply_add_bos_eos(config);
  build_matchers();
}

void TokenizerImpl::load_tokenizer_json(const std::string& text) {
  json root = parse_json(text, source_);
  JsonNode top{root, "", source_};
  if (!root.is_object()) throw_user_error("{}: expected a JSON object at the top level", source_);
  JsonNode model = top.at("model");
  if (!model.value.is_object()) throw_invalid(top, "model", "an object");
  std::string type = model.get_string("type", model.has("merges") ? "BPE" : "");
  if (type != "BPE") tok::throw_unsupported(model, "type");
  model_ = std::make_unique<tok::BpeModel>(model);
  normalizer_ = tok::make_normalizer(
      top.has("normalizer") ? top.at("normalizer") : JsonNode{json(), "normalizer", source_});
  pre_tokenizer_ = tok::make_pre_tokenizer(top.has("pre_tokenizer")
                                               ? top.at("pre_tokenizer")
                                               : JsonNode{json(), "pre_tokenizer", source_});
  post_processor_ = tok::make_post_processor(top.has("post_processor")
                                                 ? top.at("post_processor")
                                                 : JsonNode{json(), "post_processor", source_});
  decoder_ = tok::make_decoder(top.has("decoder") ? top.at("decoder")
                                                  : JsonNode{json(), "decoder", source_});
  if (root.contains("pre_tokenizer") && contains_byte_level(root["pre_tokenizer"]))
    model_->enable_byte_level();
  if (top.has("added_tokens")) load_added_tokens(top.at("added_tokens"));
}

void TokenizerImpl::load_added_tokens(const JsonNode& list) {
  if (!list.value.is_array()) throw_user_error("{}: added_tokens must be an array", source_);
  for (size_t i = 0; i < list.value.size(); ++i) {
    JsonNode item = list.at(i);
    if (!item.value.is_object()) throw_user_error("{}: {} must be an object", source_, item.path);
    tok::AddedToken token;
    int64_t id = item.get_int("id", -1);
    if (id < 0 || id > INT32_MAX) tok::throw_invalid(item, "id", "a token id (integer >= 0)");
    token.id = static_cast<TokenId>(id);
    token.content = item.get_string("content");
    token.special = item.get_bool("special", false);
    token.single_word = item.get_bool("single_word", false);
    token.lstrip = item.get_bool("lstrip", false);
    token.rstrip = item.get_bool("rstrip", false);
    token.normalized = item.get_bool("normalized", !token.special);
    add_token(std::move(token));
  }
}

void TokenizerImpl::add_token(tok::AddedToken token) {
  auto existing = added_by_id_.find(token.id);
  if (existing != added_by_id_.end()) {
    added_tokens_[existing->second] = token;
  } else {
    added_by_id_[token.id] = added_tokens_.size();
    added_tokens_.push_back(token);
  }
  added_by_content_[token.content] = token.id;
  if (token.special) special_ids_.insert(token.id);
}

void TokenizerImpl::build_matchers() {
  std::vector<const tok::AddedToken*> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  for (const auto& token : added_tokens_) {
    if (token.normalized) {
      std::string pattern = token.content;
      if (normalizer_) normalizer_->normalize(pattern);
      normalized.push_back(&token);
      normalized_patterns.push_back(std::move(pattern));
    } else {
      raw.push_back(&token);
      raw_patterns.push_back(token.content);
    }
  }
  raw_matcher_.build(raw, raw_patterns);
  normalized_matcher_.build(normalized, normalized_patterns);
}

json TokenizerImpl::load_config(const std::string& text, const std::string& name) {
  json config = parse_json(text, name);
  if (!config.is_object()) throw_user_error("{}: expected a JSON object at the top level", name);
  bos_token_ = config_token(config, "bos_token", name);
  eos_token_ = config_token(config, "eos_token", name);
  pad_token_ = config_token(config, "pad_token", name);
  unk_token_ = config_token(config, "unk_token", name);
  if (config.contains("chat_template") && !config["chat_template"].is_null()) {
    const json& templ = config["chat_template"];
    if (templ.is_string()) {
      chat_template_ = templ.get<std::string>();
    } else if (templ.is_array()) {  // [{"name": "default", "template": "..."}, ...]
      for (const auto& entry : templ)
        if (entry.is_object() && entry.value("name", "") == "default" &&
            entry.contains("template") && entry["template"].is_string())
          chat_template_ = entry["template"].get<std::string>();
    } else {
      throw_user_error("{}: chat_template must be a string or a list of {{name, template}}", name);
    }
  }
  // transformers 5 (TokenizersBackend._decode) skips the clean-up for a BPE model, the only kind
  // dpo loads, unless the config insists with the ..._for_bpe_even_though_it_will_corrupt_output
  // flag.
  auto config_flag = [&config](const char* key) {
    return config.contains(key) && config[key].is_boolean() && config[key].get<bool>();
  };
  clean_up_tokenization_spaces_ =
      config_flag("clean_up_tokenization_spaces") &&
      config_flag("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output");
  if (config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
    for (const auto& [key, value] : config["added_tokens_decoder"].items()) {
      char* end = nullptr;
      long id = std::strtol(key.c_str(), &end, 10);
      if (end == key.c_str() || *end || id < 0 || !value.is_object() ||
          !value.contains("content") || !value["content"].is_string())
        throw_user_error("{}: added_tokens_decoder.{} must map a token id to {{\"content\": ...}}",
                         name, key);
      if (added_by_id_.count(static_cast<TokenId>(id))) continue;  // tokenizer.json already has it
      tok::AddedToken token;
      token.id = static_cast<TokenId>(id);
      token.content = value["content"].get<std::string>();
      token.special = value.value("special", false);
      token.single_word = value.value("single_word", false);
      token.lstrip = value.value("lstrip", false);
      token.rstrip = value.value("rstrip", false);
      token.normalized = value.value("normalized", !token.special);
      add_token(std::move(token));
    }
  }
  return config;
}

// transformers' Llama-style tokenizers rebuild the post-processor from add_bos_token /
// add_eos_token when the config sets them: BOS? $A EOS?.
void TokenizerImpl::apply_add_bos_eos(const json& config) {
  bool has_bos_flag = config.contains("add_bos_token") && config["add_bos_token"].is_boolean();
  bool has_eos_flag = config.contains("add_eos_token") && config["add_eos_token"].is_boolean();
  if (!has_bos_flag && !has_eos_flag) return;
  std::vector<TokenId> prefix, suffix;
  if (post_processor_) tok::template_parts(*post_processor_, &prefix, &suffix);
  auto bos = bos_token_.empty() ? std::nullopt : token_to_id(bos_token_);
  auto eos = eos_token_.empty() ? std::nullopt : token_to_id(eos_token_);
  bool add_bos = has_bos_flag ? config["add_bos_token"].get<bool>()
                              : bos && !prefix.empty() && prefix[0] == *bos;
  bool add_eos = has_eos_flag ? config["add_eos_token"].get<bool>()
                              : eos && !suffix.empty() && suffix.back() == *eos;
  // A flag whose token is unknown leaves that side of the template as it is.
  std::vector<TokenId> want_prefix = bos ? std::vector<TokenId>{} : prefix;
  std::vector<TokenId> want_suffix = eos ? std::vector<TokenId>{} : suffix;
  if (add_bos && bos) want_prefix.push_back(*bos);
  if (add_eos && eos) want_suffix.push_back(*eos);
  if (want_prefix != prefix || want_suffix != suffix)
    post_processor_ = tok::make_template(std::move(want_prefix), std::move(want_suffix));
}

void TokenizerImpl::load_special_tokens_map(const std::string& text) {
  std::string name = sibling_name(source_, "special_tokens_map.json");
  json map = parse_json(text, name);
  if (!map.is_object()) throw_user_error("{}: expected a JSON object at the top level", name);
  if (bos_token_.empty()) bos_token_ = config_token(map, "bos_token", name);
  if (eos_token_.empty()) eos_token_ = config_token(map, "eos_token", name);
  if (pad_token_.empty()) pad_token_ = config_token(map, "pad_token", name);
  if (unk_token_.empty()) unk_token_ = config_token(map, "unk_token", name);
}

}  // namespace dpo
