// Post-processors of tokenizer.json: TemplateProcessing (e.g. BOS for Llama), ByteLevel (ids
// unchanged), RobertaProcessing/BertProcessing, Sequence. Only single sequences are encoded.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "tokenizer/json_path.h"

namespace dpo::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the special tokens of a single sequence (only called with add_special_tokens).
  virtual void process(std::vector<int32_t>& ids) const = 0;
};

// nullptr for a JSON null; UserError naming the path for anything unsupported.
std::unique_ptr<PostProcessor> make_post_processor(const JsonNode& node);
// TemplateProcessing "prefix $A suffix" from explicit ids.
std::unique_ptr<PostProcessor> make_template(std::vector<int32_t> prefix,
                                             std::vector<int32_t> suffix);
// The special ids a processor puts before and after a sequence (to inspect it).
void template_parts(const PostProcessor& processor, std::vector<int32_t>* prefix,
                    std::vector<int32_t>* suffix);

}  // namespace dpo::tok
