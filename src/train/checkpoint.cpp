#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cctype>
#include <mutex>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "lora/merge.h"
#include "train/run_dir.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json_depth.h"

namespace dpo {

// ---- rng_state.json

namespace {

std::string to_hex(const at::Tensor& state) {
  std::string hex;
  if (!state.defined()) return hex;
  at::Tensor bytes = state.contiguous();
  const uint8_t* data = bytes.data_ptr<uint8_t>();
  hex.reserve(static_cast<size_t>(bytes.numel()) * 2);
  for (int64_t i = 0; i < bytes.numel(); ++i) hex += fmt::format("{:02x}", data[i]);
  return hex;
}

// Undefined for "" (no state).
at::Tensor from_hex(const std::string& hex, const std::string& source, const std::string& key) {
  if (hex.size() % 2) throw_user_error("{}: {} has an odd number of hex digits", source, key);
  if (hex.empty()) return at::Tensor();
  at::Tensor bytes = at::empty({static_cast<int64_t>(hex.size() / 2)}, at::kByte);
  uint8_t* data = bytes.data_ptr<uint8_t>();
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (!std::isxdigit(static_cast<unsigned char>(hex[i])) ||
        !std::isxdigit(static_cast<unsigned char>(hex[i + 1])))
      throw_user_error("{}: {} is not hex", source, key);
    data[i / 2] = static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return bytes;
}

}  // namespace

std::string ResumeState::to_json() const {
  nlohmann::ordered_json j;
  j["epoch"] = position.epoch;
  j["batch_in_epoch"] = position.batch_in_epoch;
  j["nonfinite_in_a_row"] = totals.nonfinite_in_a_row;
  j["train_loss_sum"] = totals.train_loss_sum;
  j["train_loss_steps"] = totals.train_loss_steps;
  j["cpu_generator"] = to_hex(generators.cpu);
  if (generators.cuda.defined()) j["cuda_generator"] = to_hex(generators.cuda);
  if (world_size > 1) {
    j["world_size"] = world_size;
    nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
    for (size_t r = 0; r < rank_generators.size(); ++r) {
      nlohmann::ordered_json rank;
      rank["rank"] = r + 1;
      rank["cpu_generator"] = to_hex(rank_generators[r].cpu);
      if (rank_generators[r].cuda.defined())
        rank["cuda_generator"] = to_hex(rank_generators[r].cuda);
      ranks.push_back(rank);
    }
    j["rank_generators"] = ranks;
  }
  return j.dump(2) + "\n";
}

ResumeState ResumeState::from_json(const std::string& text, const std::string& source) {
  ResumeState state;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    state.position.epoch = j.at("epoch").get<int64_t>();
    state.position.batch_in_epoch = j.at("batch_in_epoch").get<int64_t>();
    state.totals.nonfinite_in_a_row = j.value("nonfinite_in_a_row", int64_t{0});
    state.totals.train_loss_sum = j.value("train_loss_sum", 0.0);
    state.totals.train_loss_steps = j.value("train_loss_steps", int64_t{0});
    state.generators.cpu =
        from_hex(j.at("cpu_generator").get<std::string>(), source, "cpu_generator");
    state.generators.cuda =
        from_hex(j.value("cuda_generator", std::string()), source, "cuda_generator");
    state.world_size = j.value("world_size", int64_t{1});
    if (state.world_size < 1) throw_user_error("{}: world_size must be >= 1", source);
    if (state.world_size > 1) {
      const auto& ranks = j.at("rank_generators");
      if (!ranks.is_array() || static_cast<int64_t>(ranks.size()) != state.world_size - 1)
        throw_user_error("{}: rank_generators must hold world_size - 1 = {} entries", source,
                         state.world_size - 1);
      for (const auto& rank : ranks) {
        Generators generators;
        generators.cpu = from_hex(rank.at("cpu_generator").get<std::string>(), source,
                                  "rank_generators.cpu_generator");
        generators.cuda = from_hex(rank.value("cuda_generator", std::string()), source,
                                   "rank_generators.cuda_generator");
        state.rank_generators.push_back(std::move(generators));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: malformed rng state: {}", source, e.what());
  }
  return state;
}

std::string Generators::to_text() const {
  std::string text = to_hex(cpu);
  if (cuda.defined()) text += ":" + to_hex(cuda);
  return text;
}

Generators Generators::from_text(const std::string& text, const std::string& source) {
  const size_t colon = text.find(':');
  Generators generators;
  generators.cpu = from_hex(text.substr(0, colon), source, "cpu generator");
  if (colon != std::string::npos)
    generators.cuda = from_hex(text.substr(colon + 1), source, "cuda generator");
  return generators;
}

Generators Generators::capture(at::Device device) {
  Generators generators;
  generators.cpu = capture_cpu();
  if (device.is_cuda()) generators.cuda = capture_cuda();
  return generators;
}

void Generators::restore(at::Device device) const {
  restore_cpu(cpu);
  if (device.is_cuda()) restore_cuda(cuda);
}

at::Tensor Generators::capture_cpu() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void Generators::restore_cpu(const at::Tensor& state) {
  if (!state.defined()) return;
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

at::Tensor Generators::capture_cuda() {
  if (!at::hasCUDA()) return at::Tensor();
  at::Generator generator = at::globalContext().defaultGenerator(at::kCUDA);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void Generators::restore_cuda(const at::Tensor& state) {
  if (!state.defined() || !at::hasCUDA()) return;
  at::Generator generator = at::globalContext().defaultGenerator(at::kCUDA);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// ---- weights

void write_trained_weights(const std::filesystem::path& dir, const TrainedWeights& weights) {
  if (weights.lora) {
    weights.lora->save(dir);
  } else {
    // save_hf_model replaces its output folder: write it aside, then move the files in.
    fs::path staging = dir / ".model.tmp";
    save_hf_model(*weights.model, weights.model_source_dir, staging, weights.full_model_dtype,
                  int64_t{5} * 1000 * 1000 * 1000);
    move_contents(staging, dir);
  }
  copy_tokenizer_files(weights.tokenizer_dir, dir);
}

// ---- checkpoints

std::filesystem::path write_checkpoint(const std::filesystem::path& output_dir, int64_t step,
                                       const CheckpointData& data) {
  fs::path final_dir = checkpoint_path(output_dir, step);
  // One run per output_dir (OutputDirLock), so the staging name needs no pid.
  fs::path tmp = output_dir / fmt::format(".checkpoint-{}.tmp", step);
  if (fs::exists(tmp)) fs::remove_all(tmp);
  try {
    ensure_directory(tmp);
    write_trained_weights(tmp, data.weights);
    save_safetensors(tmp / "optimizer.safetensors", data.optimizer->state_dict());
    write_file_atomic(tmp / "scheduler.json", data.scheduler_json);
    write_file_atomic(tmp / "rng_state.json", data.resume.to_json());
    write_file_atomic(tmp / "trainer_state.json", data.state->to_json());
    write_file_atomic(tmp / "config.yaml", data.config_yaml);
  } catch (const UserError& e) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw_user_error("cannot save {}: {} (the earlier checkpoints are untouched)",
                     final_dir.string(), e.what());
  }
  commit_directory(tmp, final_dir);
  return final_dir;
}

LoadedCheckpoint read_checkpoint(const std::filesystem::path& dir) {
  LoadedCheckpoint loaded;
  loaded.dir = dir;
  for (const char* name :
       {"trainer_state.json", "optimizer.safetensors", "scheduler.json", "rng_state.json"})
    if (!fs::exists(dir / name))
      throw_user_error("{}: incomplete checkpoint: {} is missing", dir.string(), name);
  loaded.state = TrainerState::from_file(dir / "trainer_state.json");
  loaded.optimizer_state = load_safetensors(dir / "optimizer.safetensors");
  loaded.scheduler_json = read_file(dir / "scheduler.json");
  loaded.resume =
      ResumeState::from_json(read_file(dir / "rng_state.json"), (dir / "rng_state.json").string());
  return loaded;
}

}  // namespace dpo
