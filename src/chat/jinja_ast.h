// Syntax tree of a parsed Jinja template: expressions and statements, each with its position.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace dpo::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  Literal,      // literal
  Name,         // name
  List,         // children: elements
  Tuple,        // children: elements
  Dict,         // children: key0, value0, key1, value1, ...
  GetAttr,      // children[0].name  (x.y)
  GetItem,      // children[0][children[1]]
  Slice,        // children: start, stop, step (each may be null); only inside GetItem
  Call,         // children[0](children[1..], kwargs)
  Filter,       // children[0] | name(children[1..], kwargs); children[0] null in {% filter %}
  Test,         // children[0] is [not] name(children[1..], kwargs)
  Not,          // not children[0]
  Negate,       // -children[0]
  Plus,         // +children[0]
  Binary,       // children[0] name children[1]; name in + - * / // % **
  Compare,      // children[0] operators[0] children[1] operators[1] children[2] ...
  And,          // children[0] and children[1]
  Or,           // children[0] or children[1]
  Conditional,  // children[1] if children[0] else children[2] (may be null)
  Concat,       // children[0] ~ children[1] ~ ...
};

struct Expr {
  ExprKind kind = ExprKind::Literal;
  int line = 1;
  int column = 1;
  Value literal;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<std::string> operators;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;  // `is not`
  int depth = 1;         // height of this subtree (the parser bounds it)
};

enum class StmtKind {
  Text,         // text
  Print,        // {{ expr }}
  If,           // branches (condition null for else)
  For,          // for target in expr [if condition]: body, else_body
  Set,          // set target = expr
  SetBlock,     // set target [| filter]: body
  Macro,        // macro name(params = defaults): body
  CallBlock,    // call(params) expr: body (the caller)
  FilterBlock,  // filter expr: body
  With,         // with targets = values: body
  Break,
  Continue,
  Scope,  // generation blocks: body rendered as is
};

struct Stmt {
  StmtKind kind = StmtKind::Text;
  int line = 1;
  int column = 1;
  std::string text;
  std::string name;
  ExprPtr expr;
  ExprPtr target;
  ExprPtr condition;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param, null when it has none
  std::vector<ExprPtr> targets;   // with
  std::vector<ExprPtr> values;    // with
};

}  // namespace dpo::jinja
