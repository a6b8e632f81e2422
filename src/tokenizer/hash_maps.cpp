// StringIdMap and PairMap: linear probing, load factor <= 1/2.
#include "tokenizer/hash_maps.h"

namespace dpo::tok {

void StringIdMap::reserve(size_t count) {
  spans_.reserve(count);
  values_.reserve(count);
  size_t capacity = 16;
  while (capacity < count * 2) capacity *= 2;
  if (capacity > slots_.size()) {
    slots_.assign(capacity, Slot{});
    for (size_t e = 0; e < values_.size(); ++e) {
      uint64_t h = hash_bytes(key(e));
      size_t mask = slots_.size() - 1;
      size_t i = h & mask;
      while (slots_[i].entry >= 0) i = (i + 1) & mask;
      slots_[i] = Slot{static_cast<uint32_t>(h >> 32), static_cast<int32_t>(e)};
    }
  }
}

void StringIdMap::grow() {
  reserve(std::max<size_t>(16, values_.size() * 2));
}

void StringIdMap::insert(std::string_view new_key, int32_t value) {
  if ((values_.size() + 1) * 2 > slots_.size()) grow();
  uint64_t h = hash_bytes(new_key);
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.entry < 0) {
      slot = Slot{static_cast<uint32_t>(h >> 32), static_cast<int32_t>(values_.size())};
      spans_.emplace_back(static_cast<uint32_t>(arena_.size()),
                          static_cast<uint32_t>(new_key.size()));
      arena_.append(new_key);
      values_.push_back(value);
      return;
    }
    if (slot.hash_low == static_cast<uint32_t>(h >> 32) && key(slot.entry) == new_key) {
      values_[slot.entry] = value;
      return;
    }
  }
}

int32_t StringIdMap::find(std::string_view wanted) const {
  if (slots_.empty()) return -1;
  uint64_t h = hash_bytes(wanted);
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.entry < 0) return -1;
    if (slot.hash_low == static_cast<uint32_t>(h >> 32) && key(slot.entry) == wanted)
      return values_[slot.entry];
  }
}

void PairMap::reserve(size_t count) {
  size_t capacity = 16;
  while (capacity < count * 2) capacity *= 2;
  if (capacity <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  size_t mask = capacity - 1;
  for (const Slot& slot : old) {
    if (slot.key == kEmpty) continue;
    size_t i = mix(slot.key) & mask;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

void PairMap::grow() {
  reserve(std::max<size_t>(16, count_ * 2));
}

void PairMap::insert(int32_t left, int32_t right, Merge merge) {
  if ((count_ + 1) * 2 > slots_.size()) grow();
  uint64_t key = pack(left, right);
  size_t mask = slots_.size() - 1;
  for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i].key == key) {
      slots_[i].merge = merge;
      return;
    }
    if (slots_[i].key == kEmpty) {
      slots_[i] = Slot{key, merge};
      ++count_;
      return;
    }
  }
}

}  // namespace dpo::tok

namespace dpo::tok {

bool WordCache::find(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const {
  if (slots_.empty()) return false;
  size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (!slot.used) return false;
    if (slot.hash == hash && slot.key_length == word.size() &&
        std::string_view(keys_).substr(slot.key_offset, slot.key_length) == word) {
      out.insert(out.end(), ids_.begin() + slot.ids_offset,
                 ids_.begin() + slot.ids_offset + slot.ids_count);
      return true;
    }
  }
}

void WordCache::clear_all() {
  slots_.assign(max_words_ * 2, Slot{});  // power of two when max_words_ is
  keys_.clear();
  ids_.clear();
  count_ = 0;
}

void WordCache::insert(std::string_view word, uint64_t hash, const std::vector<int32_t>& ids) {
  if (slots_.empty() || count_ >= max_words_ || keys_.size() + word.size() > UINT32_MAX / 2)
    clear_all();
  size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  for (; slots_[i].used; i = (i + 1) & mask)
    if (slots_[i].hash == hash &&
        std::string_view(keys_).substr(slots_[i].key_offset, slots_[i].key_length) == word)
      return;
  Slot& slot = slots_[i];
  slot = Slot{hash,
              static_cast<uint32_t>(keys_.size()),
              static_cast<uint32_t>(word.size()),
              static_cast<uint32_t>(ids_.size()),
              static_cast<uint32_t>(ids.size()),
              true};
  keys_.append(word);
  ids_.insert(ids_.end(), ids.begin(), ids.end());
  ++count_;
}

}  // namespace dpo::tok
