// BPE encoding as Hugging Face tokenizers does it (models/bpe/model.rs, word.rs): characters ->
// initial symbols (vocab, else <0xNN> byte fallback, else unk, fused when fuse_unk), then merges
// applied lowest rank first (leftmost on ties) through a priority queue: O(n log n) per word.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <mutex>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace dpo::tok {
namespace {

std::pair<std::string, std::string> read_merge(const JsonNode& merges, size_t i) {
  const json& entry = merges.value[i];
  if (entry.is_string()) {
    const std::string& line = entry.get_ref<const std::string&>();
    size_t space = line.find(' ');
    if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
      throw_user_error("{}: {}[{}] = {}: expected two tokens separated by one space", merges.source,
                       merges.path, i, entry.dump());
    return {line.substr(0, space), line.substr(space + 1)};
  }
  if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string())
    return {entry[0].get<std::string>(), entry[1].get<std::string>()};
  throw_user_error("{}: {}[{}] = {}: expected \"a b\" or [\"a\", \"b\"]", merges.source,
                   merges.path, i, entry.dump().substr(0, 80));
}

// A symbol of the word being merged: a token id in a doubly linked list.
struct Symbol {
  Id id;
  int32_t prev, next;
  bool alive;
};

// A candidate merge in the queue: lowest rank first, then leftmost position.
struct Candidate {
  int32_t rank, pos;
  Id merged;
  bool operator<(const Candidate& other) const {  // "less urgent than", for std::*_heap
    return rank != other.rank ? rank > other.rank : pos > other.pos;
  }
};

}  // namespace

BpeModel::BpeModel(const JsonNode& model) {
  if (model.has("dropout")) {
    const json& dropout = model.value["dropout"];
    if (!dropout.is_number() || dropout.get<double>() != 0.0) throw_unsupported(model, "dropout");
  }
  const json& vocab = model.get_object("vocab");
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > INT32_MAX)
      throw_user_error("{}: {}.vocab[{}] = {}: expected a token id (integer >= 0)", model.source,
                       model.path, json(it.key()).dump(), it.value().dump());
    Id id = static_cast<Id>(it.value().get<int64_t>());
    vocab_.insert(it.key(), id);
    if (static_cast<size_t>(id) >= id_to_token_.size()) id_to_token_.resize(id + 1);
    id_to_token_[id] = it.key();
  }
  if (model.has("unk_token")) unk_token_ = model.get_string("unk_token");
  continuing_subword_prefix_ = model.get_string("continuing_subword_prefix", "");
  end_of_word_suffix_ = model.get_string("end_of_word_suffix", "");
  fuse_unk_ = model.get_bool("fuse_unk", false);
  byte_fallback_ = model.get_bool("byte_fallback", false);
  ignore_merges_ = model.get_bool("ignore_merges", false);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_fallback_ids_[b] = vocab_.find(name);
    byte_ids_[b] = -1;
  }

  JsonNode merges = model.at("merges");
  if (!merges.value.is_array()) throw_invalid(model, "merges", "an array");
  merges_.reserve(merges.value.size());
  size_t prefix_length = continuing_subword_prefix_.size();
  for (size_t i = 0; i < merges.value.size(); ++i) {
    auto [left, right] = read_merge(merges, i);
    Id left_id = vocab_.find(left), right_id = vocab_.find(right);
    std::string merged =
        left + (right.size() >= prefix_length ? right.substr(prefix_length) : right);
    Id merged_id = vocab_.find(merged);
    if (left_id < 0 || right_id < 0 || merged_id < 0)
      throw_user_error("{}: {}[{}] = {}: token '{}' is not in the vocab", merges.source,
                       merges.path, i, merges.value[i].dump(),
                       left_id < 0    ? left
                       : right_id < 0 ? right
                                      : merged);
    merges_.insert(left_id, right_id, {static_cast<int32_t>(i), merged_id});
  }
  find_word_separator();
}

void BpeModel::find_word_separator() {
  const std::string separator = "\u2581";
  if (vocab_.find(separator) < 0 || !continuing_subword_prefix_.empty() ||
      !end_of_word_suffix_.empty())
    return;
  for (const auto& token : id_to_token_) {
    // The separator may only appear in the leading run of separators of a token.
    size_t run = 0;
    while (token.compare(run, separator.size(), separator) == 0) run += separator.size();
    if (token.find(separator, run) != std::string::npos) return;
  }
  word_separator_ = separator;
}

const std::string* BpeModel::id_to_token(Id id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::enable_byte_level() {
  byte_vocab_.reserve(id_to_token_.size());
  std::string bytes;
  for (size_t id = 0; id < id_to_token_.size(); ++id) {
    const std::string& token = id_to_token_[id];
    if (token.empty() || vocab_.find(token) != static_cast<Id>(id)) continue;
    if (byte_level_to_bytes(token, &bytes)) byte_vocab_.insert(bytes, static_cast<Id>(id));
  }
  for (int b = 0; b < 256; ++b)
    byte_ids_[b] = byte_vocab_.find(std::string(1, static_cast<char>(b)));
}

void BpeModel::initial_symbols(std::string_view word, std::vector<Id>& symbols) const {
  bool affixes = !continuing_subword_prefix_.empty() || !end_of_word_suffix_.empty();
  std::string piece;
  Id unk = -1;  // pending unknown token (fused while fuse_unk)
  for (size_t i = 0; i < word.size();) {
    size_t length = utf8_length(static_cast<unsigned char>(word[i]));
    std::string_view ch = word.substr(i, length);
    std::string_view lookup = ch;
    if (affixes) {
      piece.clear();
      if (i > 0) piece += continuing_subword_prefix_;
      piece += ch;
      if (i + length == word.size()) piece += end_of_word_suffix_;
      lookup = piece;
    }
    i += length;
    Id id = vocab_.find(lookup);
    if (id >= 0) {
      if (unk >= 0) symbols.push_back(unk), unk = -1;
      symbols.push_back(id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char b : lookup) all = all && byte_fallback_ids_[b] >= 0;
      if (all) {  // HF does not flush a pending unk here; neither do we
        for (unsigned char b : lookup) symbols.push_back(byte_fallback_ids_[b]);
        continue;
      }
    }
    if (unk_token_) {
      Id unk_id = vocab_.find(*unk_token_);
      if (unk_id < 0)
        throw_user_error("tokenizer.json: model.unk_token = \"{}\" is not in the vocab",
                         *unk_token_);
      if (unk >= 0 && !fuse_unk_) symbols.push_back(unk);
      unk = unk_id;
    }  // without an unk token the character is dropped, as in HF
  }
  if (unk >= 0) symbols.push_back(unk);
}

void BpeModel::merge(std::vector<Id>& ids) const {
  if (ids.size() < 2) return;
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> queue;
  symbols.clear();
  queue.clear();
  int32_t n = static_cast<int32_t>(ids.size());
  for (int32_t i = 0; i < n; ++i) symbols.push_back({ids[i], i - 1, i + 1 < n ? i + 1 : -1, true});
  for (int32_t i = 0; i + 1 < n; ++i)
    if (const auto* m = merges_.find(ids[i], ids[i + 1])) queue.push_back({m->rank, i, m->merged});
  std::make_heap(queue.begin(), queue.end());
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end());
    Candidate top = queue.back();
    queue.pop_back();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const auto* m = merges_.find(left.id, right.id);
    if (!m || m->merged != top.merged) continue;  // stale entry
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0)
      if (const auto* p = merges_.find(symbols[left.prev].id, left.id)) {
        queue.push_back({p->rank, left.prev, p->merged});
        std::push_heap(queue.begin(), queue.end());
      }
    if (left.next >= 0)
      if (const auto* p = merges_.find(left.id, symbols[left.next].id)) {
        queue.push_back({p->rank, top.pos, p->merged});
        std::push_heap(queue.begin(), queue.end());
      }
  }
  ids.clear();
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

void BpeModel::encode_word(std::string_view word, bool byte_level, std::vector<Id>& out) const {
  if (word.empty()) return;
  bool byte_path = byte_level && continuing_subword_prefix_.empty() && end_of_word_suffix_.empty();
  std::string mapped;
  if (byte_level && !byte_path) {
    mapped = bytes_to_byte_level(word);
    word = mapped;
    byte_level = false;
  }
  if (word_separator_.empty() || byte_level || ignore_merges_) {
    encode_piece(word, byte_level, out);
    return;
  }
  // Cut before every separator run that follows another character.
  const std::string& separator = word_separator_;
  size_t begin = 0;
  for (size_t pos = word.find(separator, 1); pos != std::string_view::npos;
       pos = word.find(separator, pos + separator.size())) {
    if (pos >= separator.size() &&
        word.compare(pos - separator.size(), separator.size(), separator) == 0)
      continue;
    encode_piece(word.substr(begin, pos - begin), false, out);
    begin = pos;
  }
  encode_piece(word.substr(begin), false, out);
}

void BpeModel::encode_piece(std::string_view word, bool byte_level, std::vector<Id>& out) const {
  if (word.empty()) return;
  bool cacheable = word.size() <= kCacheMaxWord;
  uint64_t hash = cacheable ? hash_bytes(word) : 0;
  CacheShard& shard = cache_[byte_level][(hash >> 40) % kShards];
  if (cacheable) {
    std::shared_lock lock(shard.mutex);
    if (shard.words.find(word, hash, out)) return;
  }
  std::vector<Id> ids;
  ids.reserve(word.size());
  // ignore_merges: a word that is a token stays whole (checked after the cache, which never
  // holds a different answer for it).
  Id whole = ignore_merges_ ? (byte_level ? byte_vocab_.find(word) : vocab_.find(word)) : -1;
  if (whole >= 0) {
    ids.push_back(whole);
  } else if (byte_level) {
    bool all = true;
    for (unsigned char b : word) all = all && byte_ids_[b] >= 0;
    if (all) {
      for (unsigned char b : word) ids.push_back(byte_ids_[b]);
    } else {
      initial_symbols(bytes_to_byte_level(word), ids);
    }
  } else {
    initial_symbols(word, ids);
  }
  if (whole < 0) merge(ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::unique_lock lock(shard.mutex);
    shard.words.insert(word, hash, ids);
  }
}

}  // namespace dpo::tok
