// A Hugging Face tokenizer loaded from tokenizer.json (+ tokenizer_config.json,
// special_tokens_map.json), producing exactly the ids transformers produces.
// Plain C++: no libtorch.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dpo {

using TokenId = int32_t;
using TokenIds = std::vector<TokenId>;

class TokenizerImpl;  // normalizer, pre-tokenizer, model, post-processor, decoder

class Tokenizer {
 public:
  // Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json and
  // DIR/special_tokens_map.json. UserError naming the file and JSON path on bad input.
  static Tokenizer from_dir(const std::filesystem::path& dir);
  // tokenizer_config may be empty ("" = not present).
  static Tokenizer from_json(const std::string& tokenizer_json,
                             const std::string& tokenizer_config_json,
                             const std::string& source_name = "tokenizer.json");

  // encode(text) as HF: added tokens split out first, then normalize, pre-tokenize, model,
  // and (with add_special_tokens) the post-processor (BOS for Llama).
  // Any bytes are accepted: invalid UTF-8 is first repaired the way Python's
  // bytes.decode("utf-8", errors="replace") does (each maximal ill-formed subsequence becomes
  // U+FFFD), so encode(b) == HF encode(b.decode("utf-8", "replace")). Thread-safe.
  TokenIds encode(std::string_view text, bool add_special_tokens = true) const;
  std::vector<TokenIds> encode_batch(const std::vector<std::string>& texts,
                                     bool add_special_tokens = true) const;
  // Ids outside the vocabulary are skipped (as HF does). transformers' clean-up (" ." -> ".",
  // " n't" -> "n't", ...) is applied only when tokenizer_config.json sets both
  // clean_up_tokenization_spaces and ..._for_bpe_even_though_it_will_corrupt_output: transformers
  // 5 skips it for BPE models otherwise, and every tokenizer dpo loads is BPE.
  std::string decode(const TokenIds& ids, bool skip_special_tokens = false) const;
  std::vector<std::string> tokens(const TokenIds& ids) const;  // id_to_token for each id

  std::optional<TokenId> token_to_id(std::string_view token) const;
  std::string id_to_token(TokenId id) const;  // "" when out of range
  size_t vocab_size() const;                  // including added tokens
  bool is_special(TokenId id) const;

  // From tokenizer_config.json (strings) and their ids; nullopt when the tokenizer has none.
  std::optional<TokenId> bos_id() const;
  std::optional<TokenId> eos_id() const;
  std::optional<TokenId> pad_id() const;
  std::optional<TokenId> unk_id() const;
  std::string bos_token() const;  // "" when none
  std::string eos_token() const;
  // The chat_template string of tokenizer_config.json ("" when none).
  const std::string& chat_template() const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

 private:
  explicit Tokenizer(std::unique_ptr<TokenizerImpl> impl);
  std::unique_ptr<TokenizerImpl> impl_;
};

}  // namespace dpo
