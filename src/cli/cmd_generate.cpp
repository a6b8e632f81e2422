// `dpo generate`: answers prompts with a model folder (optionally a LoRA adapter), greedy or
// sampled, with a KV cache. Text prompts go through the model's tokenizer (and chat template
// with --chat); --prompt-ids takes token ids directly.
#include <ATen/Context.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "chat/chat_template.h"
#include "cli/args.h"
#include "cli/command.h"
#include "cli/placement.h"
#include "data/model_data.h"
#include "data/model_tokenizer.h"
#include "io/dtype.h"
#include "lora/lora_model.h"
#include "model/generate.h"
#include "model/llama.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/json_depth.h"
#include "util/strings.h"

namespace dpo::cli {
namespace {

struct GenerateArgs {
  std::string model_dir, adapter_dir, prompt, prompts_file, prompt_ids;
  std::string chat_template = "auto";
  bool chat = false, json = false;
  int64_t max_new_tokens = 64;
  double temperature = 0.0, top_p = 1.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
  PlacementOptions placement;
};

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  for (const std::string& part : split(text, ',')) {
    std::string item = trim(part);
    size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || value < 0)
      throw_user_error(
          "--prompt-ids: '{}' is not a token id (expected comma-separated non-negative integers)",
          item);
    ids.push_back(value);
  }
  return ids;
}

// One prompt per line; in a .jsonl file each line is {"prompt": "..."}.
std::vector<std::string> read_prompts(const fs::path& file) {
  std::vector<std::string> prompts;
  bool jsonl = ends_with(file.string(), ".jsonl");
  int line_number = 0;
  for (const std::string& line : split(read_file(file), '\n')) {
    ++line_number;
    if (trim(line).empty()) continue;
    if (!jsonl) {
      prompts.push_back(line);
      continue;
    }
    const std::string where = fmt::format("{}:{}", file.string(), line_number);
    const nlohmann::json row = parse_json(line, where);
    if (!row.is_object() || !row.contains("prompt") || !row["prompt"].is_string())
      throw_user_error("{}: expected a JSON object with a \"prompt\" string", where);
    prompts.push_back(row["prompt"].get<std::string>());
  }
  if (prompts.empty()) throw_user_error("{}: no prompts in the file", file.string());
  return prompts;
}

// EOS ids of config.json, generation_config.json and the tokenizer.
std::vector<int64_t> stop_ids(const LlamaModel& model, const fs::path& dir,
                              const Tokenizer* tokenizer) {
  std::vector<int64_t> ids = model.config().eos_token_ids;
  fs::path generation_config = dir / "generation_config.json";
  if (fs::exists(generation_config)) {
    const std::string text = read_file(generation_config);
    check_json_depth(text, generation_config.string());
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("eos_token_id")) {
      const auto& eos = j["eos_token_id"];
      if (eos.is_number_integer()) ids.push_back(eos.get<int64_t>());
      if (eos.is_array())
        for (const auto& id : eos)
          if (id.is_number_integer()) ids.push_back(id.get<int64_t>());
    }
  }
  if (tokenizer && tokenizer->eos_id()) ids.push_back(*tokenizer->eos_id());
  return ids;
}

std::vector<int64_t> encode_prompt(const Tokenizer& tokenizer, const std::string& prompt, bool chat,
                                   const std::optional<ChatTemplate>& chat_template) {
  TokenIds ids;
  if (chat) {
    // ordered: a template iterating a message sees role before content, as in Python
    nlohmann::ordered_json messages =
        nlohmann::ordered_json::array({{{"role", "user"}, {"content", prompt}}});
    std::string text =
        chat_template->apply(messages, /*add_generation_prompt=*/true, tokenizer.bos_token(),
                             tokenizer.eos_token(), nlohmann::ordered_json::object());
    ids = tokenizer.encode(text, /*add_special_tokens=*/false);  // the template holds BOS
  } else {
    ids = tokenizer.encode(prompt);
  }
  return std::vector<int64_t>(ids.begin(), ids.end());
}

void print_result(const std::vector<int64_t>& prompt_ids, const std::vector<int64_t>& output_ids,
                  const Tokenizer* tokenizer, bool json) {
  std::string text;
  if (tokenizer)
    text = tokenizer->decode(TokenIds(output_ids.begin(), output_ids.end()),
                             /*skip_special_tokens=*/true);
  if (json) {
    nlohmann::ordered_json row = {
        {"prompt_ids", prompt_ids}, {"output_ids", output_ids}, {"text", text}};
    std::printf("%s\n",
                row.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
  } else if (tokenizer) {
    std::printf("%s\n", text.c_str());
  } else {
    std::vector<std::string> parts;
    for (int64_t id : output_ids) parts.push_back(std::to_string(id));
    std::printf("%s\n", join(parts, ",").c_str());
  }
  std::fflush(stdout);
}

int run_generate(std::vector<std::string>& args) {
  CLI::App app{
      "Generates answers to prompts with a Hugging Face model folder (greedy by default)."};
  GenerateArgs a;
  add_model_options(app, a.model_dir, a.adapter_dir,
                    "PEFT LoRA adapter folder applied on top of the model");
  auto* prompt = app.add_option("--prompt", a.prompt, "prompt text");
  auto* prompts = app.add_option("--prompts", a.prompts_file,
                                 "file with one prompt per line (.jsonl: {\"prompt\": ...})");
  auto* ids = app.add_option("--prompt-ids", a.prompt_ids, "prompt as token ids, e.g. 1,415,5565");
  prompt->excludes(prompts)->excludes(ids);
  prompts->excludes(ids);
  auto* chat = app.add_flag(
      "--chat", a.chat, "wrap each prompt as a user message with the tokenizer's chat template");
  app.add_option("--chat-template", a.chat_template,
                 "with --chat: auto (the tokenizer's), llama-2, zephyr, chatml, llama-3 or a "
                 "template file")
      ->needs(chat)
      ->capture_default_str();
  app.add_option("--max-new-tokens", a.max_new_tokens, "most tokens generated per prompt")
      ->check(at_least(1));
  app.add_option("--temperature", a.temperature, "sampling temperature; 0 = greedy")
      ->check(at_least(0));
  app.add_option("--top-k", a.top_k, "sample among the k most likely tokens (0 = off)")
      ->check(at_least(0));
  app.add_option("--top-p", a.top_p,
                 "sample among the most likely tokens holding probability p (1 = off)")
      ->check(in_open_closed(0, 1));
  app.add_option("--seed", a.seed, "seed of the sampler");
  app.add_flag("--json", a.json, "print {\"prompt_ids\", \"output_ids\", \"text\"} per prompt");
  add_placement_options(app, a.placement);
  if (auto code = parse_args(app, args)) return *code;
  if (prompt->count() == 0 && prompts->count() == 0 && ids->count() == 0)
    throw_user_error("dpo generate: give one of --prompt, --prompts or --prompt-ids");
  if (a.chat && ids->count() > 0)
    throw_user_error("dpo generate: --chat applies to text prompts, not --prompt-ids");
  const Placement placement = resolve_placement(a.placement);
  const at::Device device = placement.device;
  const at::ScalarType dtype = placement.dtype;

  GenerationOptions options;
  options.max_new_tokens = a.max_new_tokens;
  options.sampling = {a.temperature, a.top_k, a.top_p};
  options.seed = a.seed;
  validate(options.sampling);

  fs::path dir = a.model_dir;
  if (!fs::is_directory(dir) && dir.extension() != ".gguf")  // a .gguf file is read as a model
    throw_user_error("--model {}: {}", dir.string(),
                     fs::exists(dir) ? "not a folder (expected a Hugging Face model folder or a "
                                       ".gguf file)"
                                     : "folder does not exist");
  std::optional<Tokenizer> tokenizer;
  if (has_model_tokenizer(dir))
    tokenizer = load_model_tokenizer(dir);
  else if (ids->count() == 0)
    throw_user_error("{}: no tokenizer.json, needed for text prompts (or use --prompt-ids)",
                     dir.string());
  const std::optional<ChatTemplate> chat_template =
      a.chat ? resolve_chat_template(a.chat_template, *tokenizer) : std::nullopt;
  if (a.chat) {
    if (!chat_template)
      throw_user_error(
          "{}: --chat: tokenizer_config.json has no chat_template (choose one with "
          "--chat-template)",
          dir.string());
  }

  check_memory_for_model(a.model_dir, dtype, device, 0.0, "generating");
  LlamaModel model = LlamaModel::load(dir, dtype, device);
  if (tokenizer)
    check_tokenizer_fits_model(*tokenizer, dir.string(), model.config().vocab_size, dir.string());
  std::optional<LoraModel> adapter;
  if (!a.adapter_dir.empty()) adapter.emplace(LoraModel::load(model, a.adapter_dir));
  options.stop_ids = stop_ids(model, dir, tokenizer ? &*tokenizer : nullptr);

  std::vector<std::vector<int64_t>> prompt_ids;
  if (ids->count() > 0) prompt_ids.push_back(parse_ids(a.prompt_ids));
  std::vector<std::string> texts;
  if (prompt->count() > 0) texts.push_back(a.prompt);
  if (!a.prompts_file.empty()) texts = read_prompts(a.prompts_file);
  for (size_t i = 0; i < texts.size(); ++i) {
    prompt_ids.push_back(encode_prompt(*tokenizer, texts[i], a.chat, chat_template));
    if (prompt_ids.back().empty())
      throw_user_error(
          "{}: the prompt is empty and the tokenizer adds no BOS token, so there is nothing to "
          "generate from",
          prompts->count() ? fmt::format("{}: prompt {}", a.prompts_file, i + 1) : "--prompt");
  }

  for (const auto& ids_in : prompt_ids) {
    std::vector<int64_t> output = generate(model, ids_in, options);
    print_result(ids_in, output, tokenizer ? &*tokenizer : nullptr, a.json);
  }
  return 0;
}

}  // namespace

DPO_COMMAND("generate",
            "answer prompts with a model (and adapter): greedy, temperature, top-k, top-p",
            run_generate);

}  // namespace dpo::cli
