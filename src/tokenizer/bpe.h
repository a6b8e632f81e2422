// The BPE model of tokenizer.json (SentencePiece-style with byte_fallback, and GPT-2 byte-level):
// vocab, ranked merges, unknown-token handling, and a per-word cache.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/hash_maps.h"
#include "tokenizer/json_path.h"

namespace dpo::tok {

using Id = int32_t;

class BpeModel {
 public:
  // Reads `model` of tokenizer.json (type BPE); UserError naming the path on bad input.
  explicit BpeModel(const JsonNode& model);

  // Appends the ids of one pre-tokenized word. With `byte_level`, `word` holds raw bytes that
  // stand for their GPT-2 byte-level characters (see enable_byte_level).
  void encode_word(std::string_view word, bool byte_level, std::vector<Id>& out) const;

  // Builds the raw-byte view of the vocabulary used for byte_level words.
  void enable_byte_level();

  Id token_to_id(std::string_view token) const { return vocab_.find(token); }  // -1 if absent
  const std::string* id_to_token(Id id) const;
  size_t size() const { return id_to_token_.size(); }

 private:
  void encode_piece(std::string_view piece, bool byte_level, std::vector<Id>& out) const;
  void merge(std::vector<Id>& symbols) const;
  void find_word_separator();
  void initial_symbols(std::string_view word, std::vector<Id>& symbols) const;
  void initial_byte_symbols(std::string_view word, std::vector<Id>& symbols) const;

  StringIdMap vocab_;
  std::vector<std::string> id_to_token_;  // "" for ids the vocab skips
  PairMap merges_;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_, end_of_word_suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  Id byte_fallback_ids_[256];  // <0xNN> tokens, -1 when missing
  // "▁" when no vocab token has it after another character: then no merge can cross the start of
  // a "▁" run, and words split there encode independently (and hit the cache). "" otherwise.
  std::string word_separator_;

  // Byte-level view: raw bytes -> id, and the id of each single byte.
  StringIdMap byte_vocab_;
  Id byte_ids_[256];

  // Words seen before -> ids, in shards with their own lock. Bounded; a full shard is cleared.
  static constexpr size_t kCacheMaxWord = 256;
  struct CacheShard {
    mutable std::shared_mutex mutex;
    WordCache words{1 << 13};
  };
  static constexpr size_t kShards = 16;
  mutable CacheShard cache_[2][kShards];  // [byte_level][shard]
};

}  // namespace dpo::tok
