// Evaluates a parsed Jinja template: scopes as Jinja has them (a for-loop iteration, a macro call
// and a with block open a scope; if does not), loop variables, macros with caller, loop controls.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"

namespace dpo::jinja {

// Renders `program` with `variables` on top of the builtin globals.
// UserError "chat template line L column C: ..." for runtime errors; raise_exception's message.
std::string render(const Body& program,
                   const std::vector<std::pair<std::string, Value>>& variables);

}  // namespace dpo::jinja
