// StringIdMap and PairMap: linear probing, load factor <= 1/2.
#include "tokenizer/hash_maps.h"

namespace dpo::tok {

void StringIdMap::reserve(size_t count) {
  keys_.reserve(count);
  values_.reserve(count);
  size_t capacity = 16;
  while (capacity < count * 2) capacity *= 2;
  if (capacity > slots_.size()) {
    slots_.assign(capacity, Slot{});
    for (size_t e = 0; e < keys_.size(); ++e) {
      uint64_t h = hash_bytes(keys_[e]);
      size_t mask = slots_.size() - 1;
      size_t i = h & mask;
      while (slots_[i].entry >= 0) i = (i + 1) & mask;
      slots_[i] = Slot{static_cast<uint32_t>(h >> 32), static_cast<int32_t>(e)};
    }
  }
}

void StringIdMap::grow() {
  reserve(std::max<size_t>(16, keys_.size() * 2));
}

void StringIdMap::insert(std::string_view key, int32_t value) {
  if ((keys_.size() + 1) * 2 > slots_.size()) grow();
  uint64_t h = hash_bytes(key);
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.entry < 0) {
      slot = Slot{static_cast<uint32_t>(h >> 32), static_cast<int32_t>(keys_.size())};
      keys_.emplace_back(key);
      values_.push_back(value);
      return;
    }
    if (slot.hash_low == static_cast<uint32_t>(h >> 32) && keys_[slot.entry] == key) {
      values_[slot.entry] = value;
      return;
    }
  }
}

int32_t StringIdMap::find(std::string_view key) const {
  if (slots_.empty()) return -1;
  uint64_t h = hash_bytes(key);
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.entry < 0) return -1;
    if (slot.hash_low == static_cast<uint32_t>(h >> 32) && keys_[slot.entry] == key)
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
