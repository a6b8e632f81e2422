// Small open-addressing hash maps for the hot paths of encoding: token string -> id (looked up by
// string_view, no allocation) and merge pair -> (rank, merged id).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dpo::tok {

inline uint64_t hash_bytes(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then a final mix
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 32);
}

// Maps strings to int32 values; the strings are owned by the map.
class StringIdMap {
 public:
  void reserve(size_t count);
  // Inserts or overwrites.
  void insert(std::string_view key, int32_t value);
  // -1 when absent.
  int32_t find(std::string_view key) const;
  size_t size() const { return values_.size(); }

 private:
  struct Slot {
    uint32_t hash_low = 0;
    int32_t entry = -1;  // index into spans_/values_
  };
  std::string_view key(size_t entry) const {
    return std::string_view(arena_).substr(spans_[entry].first, spans_[entry].second);
  }
  void grow();
  std::vector<Slot> slots_;
  std::string arena_;                                 // all keys, back to back
  std::vector<std::pair<uint32_t, uint32_t>> spans_;  // (offset, length) of each key
  std::vector<int32_t> values_;
};

// Maps (left id, right id) to (rank, merged id).
class PairMap {
 public:
  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  void reserve(size_t count);
  void insert(int32_t left, int32_t right, Merge merge);  // a later insertion overwrites
  const Merge* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    uint64_t key = pack(left, right);
    size_t mask = slots_.size() - 1;
    for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return &slot.merge;
      if (slot.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return count_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t left, int32_t right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }
  static uint64_t mix(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    return key ^ (key >> 33);
  }
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge{0, 0};
  };
  void grow();
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

}  // namespace dpo::tok

namespace dpo::tok {

// Word -> token ids, in flat arrays (keys and ids in arenas; one probe array). Not thread-safe by
// itself (BpeModel guards each shard with a lock). Cleared when it reaches `max_words`.
class WordCache {
 public:
  explicit WordCache(size_t max_words = 1 << 15) : max_words_(max_words) {}
  // Appends the cached ids of `word` to `out`; false when absent.
  bool find(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const;
  void insert(std::string_view word, uint64_t hash, const std::vector<int32_t>& ids);
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_offset = 0, key_length = 0;
    uint32_t ids_offset = 0, ids_count = 0;
    bool used = false;
  };
  void clear_all();
  size_t max_words_;
  size_t count_ = 0;
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<int32_t> ids_;
};

}  // namespace dpo::tok
