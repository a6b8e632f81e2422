// trainer_state.json as transformers' TrainerState writes it (log_history, global_step, epoch,
// ...), so that HF tooling and people used to it read our run folders unchanged.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace dpo {

struct TrainerState {
  int64_t global_step = 0;
  double epoch = 0.0;
  int64_t max_steps = 0;
  int64_t num_train_epochs = 0;  // ceil of the epochs the run spans, as HF stores it
  int64_t logging_steps = 0;
  int64_t eval_steps = 0;  // 0: at the end only (written as null)
  int64_t save_steps = 0;
  int64_t train_batch_size = 0;
  int64_t num_input_tokens_seen = 0;
  double total_flos = 0.0;  // transformers' estimate (train/flos.h)
  // One object per log / eval, HF keys: metrics plus "epoch" and "step".
  nlohmann::json log_history = nlohmann::json::array();

  std::string to_json() const;
  // UserError naming the file on malformed content.
  static TrainerState from_file(const std::filesystem::path& path);
};

}  // namespace dpo
