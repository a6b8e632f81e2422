// Tokenizer: the public API, encode (added tokens -> normalize -> pre-tokenize -> BPE ->
// post-process) and decode (ids -> token strings -> decoder chain -> clean-up).
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <thread>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/threads.h"

namespace dpo {

// ---- encode ----

void TokenizerImpl::encode_text(std::string_view text, bool at_start, TokenIds& ids) const {
  // Normalize the segment, then split out the added tokens that match normalized text.
  std::string normalized(text);
  if (normalizer_) normalizer_->normalize(normalized);
  std::vector<tok::Segment> segments;
  if (normalized_matcher_.empty()) {
    if (!normalized.empty()) segments.push_back({0, normalized.size(), -1});
  } else {
    normalized_matcher_.split(normalized, segments);
  }
  tok::Words words;
  for (const auto& segment : segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
      continue;
    }
    words.clear();
    words.push_back({normalized.substr(segment.begin, segment.end - segment.begin),
                     at_start && segment.begin == 0, false});
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(words);
    for (const auto& word : words) model_->encode_word(word.text, word.byte_level, ids);
  }
}

TokenIds TokenizerImpl::encode(std::string_view input, bool add_special_tokens) const {
  std::string repaired;
  std::string_view text = input;
  if (!tok::is_valid_utf8_fast(input)) {
    repaired = tok::to_valid_utf8(input);
    text = repaired;
  }
  TokenIds ids;
  ids.reserve(text.size() / 3 + 4);
  if (raw_matcher_.empty()) {
    if (!text.empty()) encode_text(text, true, ids);
  } else {
    std::vector<tok::Segment> segments;
    raw_matcher_.split(text, segments);
    for (const auto& segment : segments) {
      if (segment.id >= 0)
        ids.push_back(segment.id);
      else
        encode_text(text.substr(segment.begin, segment.end - segment.begin), segment.begin == 0,
                    ids);
    }
  }
  if (add_special_tokens && post_processor_) post_processor_->process(ids);
  return ids;
}

// ---- decode ----

namespace {

// transformers' clean_up_tokenization: no space before punctuation and common contractions.
std::string clean_up_tokenization(std::string text) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : kRules) {
    std::string_view pattern(from);
    std::string out;
    size_t previous = 0;
    for (size_t pos = text.find(pattern); pos != std::string::npos;
         pos = text.find(pattern, previous)) {
      out.append(text, previous, pos - previous);
      out += to;
      previous = pos + pattern.size();
    }
    out.append(text, previous, std::string::npos);
    text = std::move(out);
  }
  return text;
}

}  // namespace

std::string TokenizerImpl::decode(const TokenIds& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (TokenId id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    if (const std::string* token = id_to_token(id)) tokens.push_back(*token);
  }
  std::string text;
  if (decoder_) {
    decoder_->decode_chain(tokens);
    for (const auto& piece : tokens) text += piece;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) text += (i ? " " : "") + tokens[i];
  }
  return clean_up_tokenization_spaces_ ? clean_up_tokenization(std::move(text)) : text;
}

// ---- vocabulary ----

std::optional<TokenId> TokenizerImpl::token_to_id(std::string_view token) const {
  auto it = added_by_content_.find(std::string(token));
  if (it != added_by_content_.end()) return it->second;
  TokenId id = model_->token_to_id(token);
  if (id >= 0) return id;
  return std::nullopt;
}

const std::string* TokenizerImpl::id_to_token(TokenId id) const {
  auto it = added_by_id_.find(id);
  if (it != added_by_id_.end()) return &added_tokens_[it->second].content;
  const std::string* token = model_->id_to_token(id);
  return token && !token->empty() ? token : nullptr;
}

size_t TokenizerImpl::vocab_size() const {
  size_t size = model_->size();
  for (const auto& token : added_tokens_) size = std::max(size, static_cast<size_t>(token.id) + 1);
  return size;
}

// ---- Tokenizer ----

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_dir(const std::filesystem::path& dir) {
  auto tokenizer_path = dir / "tokenizer.json";
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec))
    throw_user_error("{}: folder does not exist (expected a folder with tokenizer.json)",
                     dir.string());
  if (!std::filesystem::is_directory(dir, ec))
    throw_user_error("{}: not a folder (expected a folder with tokenizer.json)", dir.string());
  if (!std::filesystem::exists(tokenizer_path))
    throw_user_error(
        "{}: no tokenizer.json in this folder (only tokenizer.json based tokenizers are supported)",
        dir.string());
  std::string config, special_map;
  if (std::filesystem::exists(dir / "tokenizer_config.json"))
    config = read_file(dir / "tokenizer_config.json");
  if (std::filesystem::exists(dir / "special_tokens_map.json"))
    special_map = read_file(dir / "special_tokens_map.json");
  Tokenizer tokenizer(std::make_unique<TokenizerImpl>(read_file(tokenizer_path), config,
                                                      special_map, tokenizer_path.string()));
  // transformers 5 saves the template as chat_template.jinja and prefers it on load
  if (std::filesystem::exists(dir / "chat_template.jinja"))
    tokenizer.impl_->chat_template_ = read_file(dir / "chat_template.jinja");
  if (config.empty()) {
    // transformers would fail or guess too; the data pipeline's EOS rule depends on eos_token.
    const std::string eos = tokenizer.eos_token();
    log_warn(
        "{}: no tokenizer_config.json; assumed: no chat template, BOS/EOS as tokenizer.json's "
        "post-processor adds them, and {}",
        dir.string(),
        eos.empty() ? "no EOS token, so training completions get no EOS appended (the model is not "
                      "taught to stop); add tokenizer_config.json with eos_token"
                    : "eos_token '" + eos +
                          "' (from special_tokens_map.json), appended to "
                          "training completions");
  }
  return tokenizer;
}

Tokenizer Tokenizer::from_json(const std::string& tokenizer_json,
                               const std::string& tokenizer_config_json,
                               const std::string& source_name) {
  return Tokenizer(
      std::make_unique<TokenizerImpl>(tokenizer_json, tokenizer_config_json, "", source_name));
}

TokenIds Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return impl_->encode(text, add_special_tokens);
}

std::vector<TokenIds> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                              bool add_special_tokens) const {
  std::vector<TokenIds> out(texts.size());
  size_t threads = std::min<size_t>(static_cast<size_t>(available_cores()), texts.size() / 16 + 1);
  if (threads <= 1) {
    for (size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i], add_special_tokens);
    return out;
  }
  std::vector<std::thread> workers;
  std::vector<std::exception_ptr> errors(threads);
  for (size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        for (size_t i = t; i < texts.size(); i += threads)
          out[i] = encode(texts[i], add_special_tokens);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& worker : workers) worker.join();
  for (auto& error : errors)
    if (error) std::rethrow_exception(error);
  return out;
}

std::string Tokenizer::decode(const TokenIds& ids, bool skip_special_tokens) const {
  return impl_->decode(ids, skip_special_tokens);
}

std::vector<std::string> Tokenizer::tokens(const TokenIds& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (TokenId id : ids) out.push_back(id_to_token(id));
  return out;
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  return impl_->token_to_id(token);
}
std::string Tokenizer::id_to_token(TokenId id) const {
  const std::string* token = impl_->id_to_token(id);
  return token ? *token : std::string();
}
size_t Tokenizer::vocab_size() const {
  return impl_->vocab_size();
}
bool Tokenizer::is_special(TokenId id) const {
  return impl_->is_special(id);
}

namespace {
std::optional<TokenId> id_of(const TokenizerImpl& impl, const std::string& token) {
  if (token.empty()) return std::nullopt;
  return impl.token_to_id(token);
}
}  // namespace

std::optional<TokenId> Tokenizer::bos_id() const {
  return id_of(*impl_, impl_->bos_token_);
}
std::optional<TokenId> Tokenizer::eos_id() const {
  return id_of(*impl_, impl_->eos_token_);
}
std::optional<TokenId> Tokenizer::pad_id() const {
  return id_of(*impl_, impl_->pad_token_);
}
std::optional<TokenId> Tokenizer::unk_id() const {
  return id_of(*impl_, impl_->unk_token_);
}
std::string Tokenizer::bos_token() const {
  return impl_->bos_token_;
}
std::string Tokenizer::eos_token() const {
  return impl_->eos_token_;
}
const std::string& Tokenizer::chat_template() const {
  return impl_->chat_template_;
}

}  // namespace dpo
