#include "report/generations.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json.h"
#include "util/json_depth.h"
#include "util/strings.h"

namespace dpo::report {

using ordered_json = nlohmann::ordered_json;

std::string generation_to_json(const Generation& generation) {
  ordered_json object = {{"phase", generation.phase},
                         {"prompt", generation.prompt},
                         {"completion", generation.completion}};
  if (generation.step) object["step"] = *generation.step;
  // Generated text may hold invalid UTF-8 (a token cut inside a character): replace, never throw.
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void clear_generations(const fs::path& output_dir) {
  std::error_code ec;
  fs::remove(output_dir / kGenerationsFileName, ec);
  if (ec)
    throw_user_error("{}: cannot remove ({})", (output_dir / kGenerationsFileName).string(),
                     ec.message());
}

void append_generation(const fs::path& output_dir, const Generation& generation) {
  append_line(output_dir / kGenerationsFileName, generation_to_json(generation));
}

namespace {

std::string required_string(const ordered_json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) throw_user_error("{}: missing \"{}\"", where, key);
  if (!it->is_string())
    throw_user_error("{}: \"{}\" must be a string, got {}", where, key, it->type_name());
  return it->get<std::string>();
}

Generation parse_generation(std::string_view line, const std::string& where) {
  ordered_json object = parse_ordered_json(line, where);
  if (!object.is_object())
    throw_user_error("{}: expected a JSON object {{\"phase\", \"prompt\", \"completion\"}}, got {}",
                     where, object.type_name());
  Generation generation;
  generation.phase = required_string(object, "phase", where);
  generation.prompt = required_string(object, "prompt", where);
  generation.completion = required_string(object, "completion", where);
  auto step = object.find("step");
  if (step != object.end() && !step->is_null()) {
    if (!step->is_number_integer())
      throw_user_error("{}: \"step\" must be an integer, got {}", where, step->dump());
    generation.step = step->get<int64_t>();
  }
  return generation;
}

size_t index_of(std::vector<std::string>& list, const std::string& item) {
  auto it = std::find(list.begin(), list.end(), item);
  if (it != list.end()) return static_cast<size_t>(it - list.begin());
  list.push_back(item);
  return list.size() - 1;
}

}  // namespace

std::vector<Generation> parse_generations_text(const std::string& text, const std::string& name) {
  std::vector<Generation> out;
  auto lines = split(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (trim(lines[i]).empty()) continue;
    out.push_back(parse_generation(lines[i], fmt::format("{}:{}", name, i + 1)));
  }
  return out;
}

std::vector<Generation> read_generations(const fs::path& path) {
  return parse_generations_text(read_file(path), path.string());
}

GenerationTable tabulate_generations(const std::vector<Generation>& generations) {
  GenerationTable table;
  // "before" and "after" lead when present, whatever order the file has them in.
  for (const char* known : {"before", "after"}) {
    bool present = std::any_of(generations.begin(), generations.end(),
                               [&](const Generation& g) { return g.phase == known; });
    if (present) table.phases.push_back(known);
  }
  for (const auto& g : generations) index_of(table.phases, g.phase);
  for (const auto& g : generations) {
    size_t row = index_of(table.prompts, g.prompt);
    if (table.cells.size() <= row) table.cells.resize(row + 1);
    table.cells[row].resize(table.phases.size());
    table.cells[row][index_of(table.phases, g.phase)] =
        g.completion;  // a later answer replaces an earlier one
  }
  return table;
}

}  // namespace dpo::report
