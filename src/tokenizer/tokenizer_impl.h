// The pieces of a loaded tokenizer (internal to src/tokenizer).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/tokenizer.h"

namespace dpo {

class TokenizerImpl {
 public:
  // Parses the three files (the last two may be ""); UserError naming file and JSON path.
  TokenizerImpl(const std::string& tokenizer_json, const std::string& config_json,
                const std::string& special_tokens_map_json, const std::string& source);

  TokenIds encode(std::string_view text, bool add_special_tokens) const;
  std::string decode(const TokenIds& ids, bool skip_special_tokens) const;
  std::optional<TokenId> token_to_id(std::string_view token) const;
  const std::string* id_to_token(TokenId id) const;
  size_t vocab_size() const;
  bool is_special(TokenId id) const { return special_ids_.count(id) > 0; }

  std::string source_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::BpeModel> model_;
  std::unique_ptr<tok::PostProcessor> post_processor_;
  std::unique_ptr<tok::Decoder> decoder_;

  std::vector<tok::AddedToken> added_tokens_;
  std::unordered_map<TokenId, size_t> added_by_id_;            // -> index in added_tokens_
  std::unordered_map<std::string, TokenId> added_by_content_;  // content -> id
  std::unordered_set<TokenId> special_ids_;
  tok::AddedTokenMatcher raw_matcher_, normalized_matcher_;

  // From tokenizer_config.json / special_tokens_map.json.
  std::string bos_token_, eos_token_, pad_token_, unk_token_, chat_template_;
  bool clean_up_tokenization_spaces_ = false;

 private:
  void load_tokenizer_json(const std::string& text);
  void load_added_tokens(const tok::JsonNode& list);
  void add_token(tok::AddedToken token);
  void build_matchers();
  tok::json load_config(const std::string& text, const std::string& name);  // returns the config
  void load_special_tokens_map(const std::string& text);
  void apply_add_bos_eos(const tok::json& config);
  void encode_text(std::string_view text, bool at_start, TokenIds& ids) const;
};

}  // namespace dpo
