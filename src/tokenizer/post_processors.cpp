// Post-processors (HF processors/*.rs), single-sequence case.
#include "tokenizer/post_processors.h"

#include "util/error.h"

namespace dpo::tok {
namespace {

// prefix + ids + suffix (TemplateProcessing with one $A, Bert/Roberta [CLS] $A [SEP]).
class TemplatePostProcessor : public PostProcessor {
 public:
  TemplatePostProcessor(std::vector<int32_t> prefix, std::vector<int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<int32_t>& ids) const override {
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }
  std::vector<int32_t> prefix_, suffix_;
};

class SequencePostProcessor : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps)
      : steps_(std::move(steps)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& step : steps_) step->process(ids);
  }
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

// Offsets only: ids are unchanged.
class ByteLevelPostProcessor : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

// The ids of special token `name` from TemplateProcessing's "special_tokens".
std::vector<int32_t> special_ids(const JsonNode& node, const std::string& name,
                                 const std::string& item_path) {
  JsonNode specials = node.at("special_tokens");
  if (!specials.has(name))
    throw_user_error("{}: {} uses special token \"{}\" missing from {}", node.source, item_path,
                     name, specials.path);
  JsonNode special = specials.at(name);
  std::vector<int32_t> ids;
  const json& list = special.get_array("ids");
  for (const auto& id : list) {
    if (!id.is_number_integer()) throw_invalid(special, "ids", "an array of token ids");
    ids.push_back(id.get<int32_t>());
  }
  return ids;
}

std::unique_ptr<PostProcessor> make_template_processing(const JsonNode& node) {
  JsonNode single = node.at("single");
  if (!single.value.is_array()) throw_unsupported(node, "single");
  std::vector<int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (size_t i = 0; i < single.value.size(); ++i) {
    JsonNode item = single.at(i);
    if (item.has("SpecialToken")) {
      auto ids = special_ids(node, item.at("SpecialToken").get_string("id"), item.path);
      auto& target = seen_sequence ? suffix : prefix;
      target.insert(target.end(), ids.begin(), ids.end());
    } else if (item.has("Sequence") && !seen_sequence) {
      seen_sequence = true;
    } else {
      throw_user_error("{}: {} = {} is not supported (expected one Sequence and SpecialTokens)",
                       node.source, item.path, item.value.dump());
    }
  }
  return std::make_unique<TemplatePostProcessor>(std::move(prefix), std::move(suffix));
}

// Bert/Roberta: "sep": ["[SEP]", 102], "cls": ["[CLS]", 101].
int32_t pair_id(const JsonNode& node, const std::string& key) {
  const json& pair = node.get_array(key);
  if (pair.size() != 2 || !pair[1].is_number_integer()) throw_invalid(node, key, "[token, id]");
  return pair[1].get<int32_t>();
}

}  // namespace

std::unique_ptr<PostProcessor> make_template(std::vector<int32_t> prefix,
                                             std::vector<int32_t> suffix) {
  return std::make_unique<TemplatePostProcessor>(std::move(prefix), std::move(suffix));
}

void template_parts(const PostProcessor& processor, std::vector<int32_t>* prefix,
                    std::vector<int32_t>* suffix) {
  std::vector<int32_t> marker{-7};
  processor.process(marker);
  size_t at = 0;
  while (at < marker.size() && marker[at] != -7) ++at;
  prefix->assign(marker.begin(), marker.begin() + at);
  suffix->assign(marker.begin() + std::min(at + 1, marker.size()), marker.end());
}

std::unique_ptr<PostProcessor> make_post_processor(const JsonNode& node) {
  if (node.value.is_null()) return nullptr;
  std::string type = node.get_string("type");
  if (type == "TemplateProcessing") return make_template_processing(node);
  if (type == "ByteLevel") return std::make_unique<ByteLevelPostProcessor>();
  if (type == "BertProcessing" || type == "RobertaProcessing")
    return make_template({pair_id(node, "cls")}, {pair_id(node, "sep")});
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> steps;
    JsonNode list = node.at("processors");
    if (!list.value.is_array()) throw_invalid(node, "processors", "an array");
    for (size_t i = 0; i < list.value.size(); ++i) {
      auto step = make_post_processor(list.at(i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePostProcessor>(std::move(steps));
  }
  throw_unsupported(node, "type");
}

}  // namespace dpo::tok
