// PCRE2 wrapper: compile once with UTF | UCP and JIT; per-thread match data and JIT stack.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace dpo::tok {
namespace {

// One JIT stack and match data per thread, grown on demand.
struct ThreadMatchState {
  pcre2_jit_stack* stack = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_match_data* data = nullptr;
  ThreadMatchState() {
    stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(context, nullptr, stack);
    data = pcre2_match_data_create(64, nullptr);
  }
  ~ThreadMatchState() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

ThreadMatchState& thread_state() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

std::string oniguruma_to_pcre2(const std::string& pattern) {
  static const char* const kSpace = "\\t-\\r\\x{85}\\p{Z}";
  static const char* const kHex = "0-9a-fA-F";
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char next = pattern[++i];
      if (next == 's') {
        out += in_class ? std::string(kSpace) : "[" + std::string(kSpace) + "]";
      } else if (next == 'S' && !in_class) {
        out += "[^" + std::string(kSpace) + "]";
      } else if (next == 'h') {
        out += in_class ? std::string(kHex) : "[" + std::string(kHex) + "]";
      } else if (next == 'H' && !in_class) {
        out += "[^" + std::string(kHex) + "]";
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];  // literal ]
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {  // [:alpha:]
      size_t end = pattern.find(":]", i + 2);
      if (end != std::string::npos) {
        out.append(pattern, i, end + 2 - i);
        i = end + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

Regex::Regex(const std::string& source_pattern, const std::string& where, bool oniguruma)
    : pattern_(source_pattern) {
  std::string pattern = oniguruma ? oniguruma_to_pcre2(source_pattern) : source_pattern;
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error_code,
                                   &error_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw_user_error("{} = \"{}\": bad regular expression at offset {}: {}", where, source_pattern,
                     error_offset, reinterpret_cast<const char*>(message));
  }
  code_ = code;
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view subject, std::vector<ByteRange>& matches) const {
  auto* code = static_cast<pcre2_code*>(code_);
  ThreadMatchState& state = thread_state();
  auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t start = 0;
  while (start <= subject.size()) {
    int rc = jit_ ? pcre2_jit_match(code, text, subject.size(), start, 0, state.data, state.context)
                  : pcre2_match(code, text, subject.size(), start, PCRE2_NO_UTF_CHECK, state.data,
                                state.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw_user_error("regular expression \"{}\" failed on a text of {} bytes: {}", pattern_,
                       subject.size(), reinterpret_cast<const char*>(message));
    }
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    size_t begin = ovector[0], end = ovector[1];
    matches.emplace_back(begin, end);
    if (end > begin) {
      start = end;
    } else {  // empty match: step over one character
      if (end >= subject.size()) return;
      start = end + utf8_length(static_cast<unsigned char>(subject[end]));
    }
  }
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace dpo::tok

namespace dpo::tok {

void Pattern::find_all(std::string_view subject, std::vector<ByteRange>& matches) const {
  if (regex) {
    regex->find_all(subject, matches);
    return;
  }
  if (literal.empty()) return;
  for (size_t pos = subject.find(literal); pos != std::string_view::npos;
       pos = subject.find(literal, pos + literal.size()))
    matches.emplace_back(pos, pos + literal.size());
}

Pattern read_pattern(const JsonNode& node) {
  JsonNode pattern = node.at("pattern");
  Pattern out;
  if (pattern.has("String")) {
    out.literal = pattern.get_string("String");
  } else if (pattern.has("Regex")) {
    out.regex = std::make_unique<Regex>(pattern.get_string("Regex"),
                                        pattern.source + ": " + pattern.child_path("Regex"), true);
  } else {
    throw_invalid(node, "pattern", "{\"String\": ...} or {\"Regex\": ...}");
  }
  return out;
}

}  // namespace dpo::tok
