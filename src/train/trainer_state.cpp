#include "train/trainer_state.h"

#include "util/error.h"
#include "util/fs.h"
#include "util/json_depth.h"

namespace dpo {

std::string TrainerState::to_json() const {
  nlohmann::ordered_json j;
  j["best_global_step"] = nullptr;
  j["best_metric"] = nullptr;
  j["best_model_checkpoint"] = nullptr;
  j["epoch"] = epoch;
  j["eval_steps"] = eval_steps > 0 ? nlohmann::ordered_json(eval_steps) : nullptr;
  j["global_step"] = global_step;
  j["is_hyper_param_search"] = false;
  j["is_local_process_zero"] = true;
  j["is_world_process_zero"] = true;
  j["log_history"] = log_history;
  j["logging_steps"] = logging_steps;
  j["max_steps"] = max_steps;
  j["num_input_tokens_seen"] = num_input_tokens_seen;
  j["num_train_epochs"] = num_train_epochs;
  j["save_steps"] = save_steps;
  j["stateful_callbacks"] = nlohmann::ordered_json::object();
  j["total_flos"] = total_flos;
  j["train_batch_size"] = train_batch_size;
  j["trial_name"] = nullptr;
  j["trial_params"] = nullptr;
  return j.dump(2) + "\n";
}

TrainerState TrainerState::from_file(const std::filesystem::path& path) {
  TrainerState state;
  const std::string text = read_file(path);
  check_json_depth(text, path.string());
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    state.global_step = j.at("global_step").get<int64_t>();
    state.epoch = j.at("epoch").get<double>();
    state.max_steps = j.at("max_steps").get<int64_t>();
    state.num_train_epochs = j.value("num_train_epochs", int64_t{0});
    state.logging_steps = j.value("logging_steps", int64_t{0});
    state.eval_steps = j["eval_steps"].is_number() ? j["eval_steps"].get<int64_t>() : 0;
    state.save_steps = j.value("save_steps", int64_t{0});
    state.train_batch_size = j.value("train_batch_size", int64_t{0});
    state.num_input_tokens_seen = j.value("num_input_tokens_seen", int64_t{0});
    state.total_flos = j.value("total_flos", 0.0);
    state.log_history = j.at("log_history");
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: not a trainer_state.json written by dpo.cpp or transformers: {}",
                     path.string(), e.what());
  }
  return state;
}

}  // namespace dpo
