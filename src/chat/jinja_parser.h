// Jinja parser: tokens to a statement tree, with jinja2.parser's grammar and precedence.
#pragma once
#include <string>

#include "chat/jinja_ast.h"

namespace dpo::jinja {

// Parses a whole template; UserError "chat template line L column C: ..." on a syntax error.
Body parse_template(const std::string& source);

}  // namespace dpo::jinja
