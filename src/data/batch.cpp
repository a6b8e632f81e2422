// Batches from tokenized examples. Shape legend: P pairs, S sequences, N rows, T time.
// Every layout scores the same tokens: token k of a sequence (k >= 1) when it is a completion
// token, predicted from the logits of the token before it in the same sequence.
#include "data/batch.h"

#include <algorithm>

#include "util/error.h"

namespace dpo {

namespace {

// One sequence to lay out: prompt then completion.
struct Sequence {
  const TokenIds* prompt;
  const TokenIds* completion;
  int64_t length() const { return static_cast<int64_t>(prompt->size() + completion->size()); }
  TokenId token(int64_t k) const {
    int64_t lp = static_cast<int64_t>(prompt->size());
    return k < lp ? (*prompt)[static_cast<size_t>(k)] : (*completion)[static_cast<size_t>(k - lp)];
  }
  bool scored(int64_t k) const { return k >= 1 && k >= static_cast<int64_t>(prompt->size()); }
};

// Host buffers of one batch, turned into tensors at the end.
struct Buffers {
  int64_t rows, time;
  std::vector<int64_t> ids, positions, sequence_index, logit_index;
  std::vector<uint8_t> completion;
  Buffers(int64_t n, int64_t t, int64_t pad)
      : rows(n),
        time(t),
        ids(static_cast<size_t>(n * t), pad),
        positions(static_cast<size_t>(n * t), 0),
        sequence_index(static_cast<size_t>(n * t), -1),
        logit_index(static_cast<size_t>(n * t), -1),
        completion(static_cast<size_t>(n * t), 0) {}
  size_t at(int64_t row, int64_t t) const { return static_cast<size_t>(row * time + t); }
  // Writes token k of `seq` (sequence s) at (row, t), predicted from position `from` (k >= 1).
  void put(const Sequence& seq, int64_t k, int64_t row, int64_t t, int64_t position, int64_t s,
           int64_t from) {
    size_t i = at(row, t);
    ids[i] = seq.token(k);
    positions[i] = position;
    sequence_index[i] = s;
    if (k >= 1) logit_index[i] = from;
    if (seq.scored(k)) completion[i] = 1;
  }
};

at::Tensor long_tensor(const std::vector<int64_t>& values, int64_t n, int64_t t) {
  return at::tensor(at::ArrayRef<int64_t>(values), at::kLong).reshape({n, t});
}

void finish(Buffers& b, TokenBatch& batch) {
  batch.input.input_ids = long_tensor(b.ids, b.rows, b.time);            // (N, T)
  batch.input.position_ids = long_tensor(b.positions, b.rows, b.time);   // (N, T)
  batch.sequence_index = long_tensor(b.sequence_index, b.rows, b.time);  // (N, T)
  batch.logit_index = long_tensor(b.logit_index, b.rows, b.time);        // (N, T)
  batch.completion_mask = at::tensor(at::ArrayRef<uint8_t>(b.completion), at::kByte)
                              .reshape({b.rows, b.time})
                              .to(at::kBool);  // (N, T)
}

// Padded: one sequence per row, right padding.
TokenBatch padded(const std::vector<Sequence>& seqs, int64_t pad) {
  int64_t n = static_cast<int64_t>(seqs.size()), t = 0;
  for (const Sequence& s : seqs) t = std::max(t, s.length());
  Buffers b(n, t, pad);
  std::vector<int64_t> attention(static_cast<size_t>(n * t), 0);
  TokenBatch batch;
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t k = 0; k < seqs[row].length(); ++k) {
      b.put(seqs[row], k, row, k, k, row, k - 1);
      attention[b.at(row, k)] = 1;
    }
    batch.real_tokens += seqs[row].length();
  }
  finish(b, batch);
  batch.input.attention_mask = long_tensor(attention, n, t);  // (N, T)
  return batch;
}

// Where each sequence (or prompt-sharing segment) of a packed batch goes: its row and its first
// column.
struct Placement {
  std::vector<int64_t> row_of, start_of, segment_of;  // segment: its place in its row, from 0
  int64_t rows = 0, time = 0;
};

// max_row_tokens 0: every sequence in one row, in order. Otherwise first-fit decreasing: longest
// sequence first, each into the first row with room (a new row when none has; a sequence longer
// than max_row_tokens gets a row of its own), which leaves less padding than filling rows in order.
Placement place(const std::vector<int64_t>& lengths, int64_t max_row_tokens) {
  Placement p;
  p.row_of.assign(lengths.size(), 0);
  p.start_of.assign(lengths.size(), 0);
  p.segment_of.assign(lengths.size(), 0);
  std::vector<size_t> order(lengths.size());
  for (size_t s = 0; s < lengths.size(); ++s) order[s] = s;
  if (max_row_tokens > 0)
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  std::vector<int64_t> used, count;  // tokens and sequences per row
  for (size_t s : order) {
    const int64_t length = lengths[s];
    size_t row = 0;
    while (row < used.size() && max_row_tokens > 0 && used[row] + length > max_row_tokens) ++row;
    if (row == used.size()) {
      used.push_back(0);
      count.push_back(0);
    }
    p.row_of[s] = static_cast<int64_t>(row);
    p.start_of[s] = used[row];
    p.segment_of[s] = count[row]++;
    used[row] += length;
    p.time = std::max(p.time, used[row]);
  }
  p.rows = static_cast<int64_t>(used.size());
  return p;
}

// The packer's max_row_tokens for `width` and the lengths to place (0: one row holding all).
int64_t max_row_tokens(const std::vector<int64_t>& lengths, RowWidth width) {
  switch (width.kind) {
    case RowWidth::Kind::kOneRow:
      return 0;
    case RowWidth::Kind::kAtMost:
      DPO_CHECK(width.tokens > 0, "RowWidth::at_most needs a positive width (got {})",
                width.tokens);
      return width.tokens;
    case RowWidth::Kind::kLongestSequence:
      break;
  }
  return lengths.empty() ? 0 : *std::max_element(lengths.begin(), lengths.end());
}

// Packed: several sequences per row (see place), segment ids numbering the sequences of each row
// from 0 (-1 on the padding at a row's end), positions restarting at 0 for every sequence.
TokenBatch packed(const std::vector<Sequence>& seqs, int64_t pad, RowWidth width) {
  std::vector<int64_t> lengths;
  for (const Sequence& s : seqs) lengths.push_back(s.length());
  const Placement p = place(lengths, max_row_tokens(lengths, width));
  const std::vector<int64_t>&row_of = p.row_of, &start_of = p.start_of;  // per sequence
  const int64_t rows = p.rows, t = p.time;
  Buffers b(rows, t, pad);
  std::vector<int64_t> segments(static_cast<size_t>(rows * t), -1);
  TokenBatch batch;
  for (size_t s = 0; s < seqs.size(); ++s) {
    for (int64_t k = 0; k < seqs[s].length(); ++k) {
      int64_t column = start_of[s] + k;
      b.put(seqs[s], k, row_of[s], column, k, static_cast<int64_t>(s), column - 1);
      segments[b.at(row_of[s], column)] = p.segment_of[s];
    }
    batch.real_tokens += seqs[s].length();
  }
  finish(b, batch);
  batch.input.segment_ids = long_tensor(segments, rows, t);  // (N, T)
  return batch;
}

// Prompt-sharing: pair q is one segment [prompt | chosen | rejected], placed as packed sequences
// are. Branches: 0 the prompt, 1 chosen, 2 rejected; chosen sees the prompt and itself, rejected
// sees the prompt and itself (causally), and its positions continue from the prompt's length, so
// every token sees the positions and keys it sees in the other layouts. The prompt's tokens belong
// to the chosen sequence q, and also (shared_sequence_index) to the rejected one P + q.
TokenBatch prompt_sharing(const std::vector<PreferenceExample>& pairs, int64_t pad,
                          RowWidth width) {
  const int64_t num_pairs = static_cast<int64_t>(pairs.size());
  std::vector<int64_t> lengths;
  for (const auto& e : pairs)
    lengths.push_back(
        static_cast<int64_t>(e.prompt_ids.size() + e.chosen_ids.size() + e.rejected_ids.size()));
  const Placement p = place(lengths, max_row_tokens(lengths, width));
  const int64_t rows = p.rows, t = p.time;
  Buffers b(rows, t, pad);
  std::vector<int64_t> segments(static_cast<size_t>(rows * t), -1);
  std::vector<int64_t> branches(static_cast<size_t>(rows * t), 0);
  std::vector<int64_t> shared(static_cast<size_t>(rows * t), -1);
  TokenBatch batch;
  for (int64_t q = 0; q < num_pairs; ++q) {
    const PreferenceExample& e = pairs[static_cast<size_t>(q)];
    const int64_t lp = static_cast<int64_t>(e.prompt_ids.size());
    const int64_t lc = static_cast<int64_t>(e.chosen_ids.size());
    const int64_t lr = static_cast<int64_t>(e.rejected_ids.size());
    const int64_t row = p.row_of[static_cast<size_t>(q)],
                  start = p.start_of[static_cast<size_t>(q)];
    const Sequence chosen{&e.prompt_ids, &e.chosen_ids}, rejected{&e.prompt_ids, &e.rejected_ids};
    for (int64_t k = 0; k < lp + lc; ++k) {  // the prompt, then chosen
      const int64_t column = start + k;
      b.put(chosen, k, row, column, k, q, column - 1);
      branches[b.at(row, column)] = k < lp ? 0 : 1;
      if (k < lp) shared[b.at(row, column)] = num_pairs + q;
    }
    for (int64_t k = lp; k < lp + lr; ++k) {  // rejected, its first token after the prompt's last
      const int64_t column = start + lc + k;
      b.put(rejected, k, row, column, k, num_pairs + q, k == lp ? start + lp - 1 : column - 1);
      branches[b.at(row, column)] = 2;
    }
    for (int64_t k = 0; k < lp + lc + lr; ++k)
      segments[b.at(row, start + k)] = p.segment_of[static_cast<size_t>(q)];
    batch.real_tokens += lp + lc + lr;
    batch.shared_tokens += lp;
  }
  finish(b, batch);
  batch.input.segment_ids = long_tensor(segments, rows, t);    // (N, T)
  batch.input.branch_ids = long_tensor(branches, rows, t);     // (N, T)
  batch.shared_sequence_index = long_tensor(shared, rows, t);  // (N, T)
  return batch;
}

TokenBatch lay_out(const std::vector<Sequence>& seqs, BatchLayout layout, int64_t pad,
                   RowWidth width) {
  if (layout == BatchLayout::kPadded) return padded(seqs, pad);
  if (layout == BatchLayout::kPacked) return packed(seqs, pad, width);
  throw_user_error("the prompt-sharing layout applies to preference pairs only");
}

}  // namespace

TokenBatch make_preference_batch(const std::vector<PreferenceExample>& pairs, BatchLayout layout,
                                 int64_t pad_token_id, RowWidth width) {
  DPO_CHECK(!pairs.empty(), "make_preference_batch: no pairs");
  TokenBatch batch;
  if (layout == BatchLayout::kPromptSharing) {
    batch = prompt_sharing(pairs, pad_token_id, width);
  } else {
    std::vector<Sequence> seqs;
    for (const auto& e : pairs) seqs.push_back({&e.prompt_ids, &e.chosen_ids});
    for (const auto& e : pairs) seqs.push_back({&e.prompt_ids, &e.rejected_ids});
    batch = lay_out(seqs, layout, pad_token_id, width);
  }
  batch.num_pairs = static_cast<int64_t>(pairs.size());
  batch.num_sequences = 2 * batch.num_pairs;
  for (const auto& e : pairs) batch.example_indices.push_back(e.index);
  for (const auto& e : pairs)
    batch.sequence_lengths.push_back(Sequence{&e.prompt_ids, &e.chosen_ids}.length());
  for (const auto& e : pairs)
    batch.sequence_lengths.push_back(Sequence{&e.prompt_ids, &e.rejected_ids}.length());
  return batch;
}

TokenBatch make_sft_batch(const std::vector<SftExample>& examples, BatchLayout layout,
                          int64_t pad_token_id, RowWidth width) {
  DPO_CHECK(!examples.empty(), "make_sft_batch: no examples");
  std::vector<Sequence> seqs;
  for (const auto& e : examples) seqs.push_back({&e.prompt_ids, &e.completion_ids});
  TokenBatch batch = lay_out(seqs, layout, pad_token_id, width);
  batch.num_sequences = static_cast<int64_t>(examples.size());
  for (const auto& e : examples) batch.example_indices.push_back(e.index);
  for (const auto& s : seqs) batch.sequence_lengths.push_back(s.length());
  return batch;
}

const char* batch_layout_name(BatchLayout layout) {
  switch (layout) {
    case BatchLayout::kPadded:
      return "padded";
    case BatchLayout::kPacked:
      return "packed";
    case BatchLayout::kPromptSharing:
      return "shared";
  }
  return "?";
}

TokenBatch to_device(const TokenBatch& batch, at::Device device) {
  auto move = [&](const at::Tensor& x) { return x.defined() ? x.to(device) : x; };
  TokenBatch out = batch;
  out.input.input_ids = move(batch.input.input_ids);
  out.input.position_ids = move(batch.input.position_ids);
  out.input.attention_mask = move(batch.input.attention_mask);
  out.input.segment_ids = move(batch.input.segment_ids);
  out.input.allowed = move(batch.input.allowed);
  out.input.branch_ids = move(batch.input.branch_ids);
  out.shared_sequence_index = move(batch.shared_sequence_index);
  out.completion_mask = move(batch.completion_mask);
  out.sequence_index = move(batch.sequence_index);
  out.logit_index = move(batch.logit_index);
  return out;
}

}  // namespace dpo
