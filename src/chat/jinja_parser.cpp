// Recursive-descent Jinja parser following jinja2.parser (same precedence and statement forms).
#include "chat/jinja_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"

namespace dpo::jinja {
namespace {

constexpr int kMaxDepth = 200;  // nesting of expressions and blocks

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse() {
    Body body = subparse({});
    if (current().type != TokenType::End) fail_here("unexpected tag");
    return body;
  }

 private:
  std::vector<Token> tokens_;
  size_t index_ = 0;
  int depth_ = 0;

  // RAII guard against inputs nested deeply enough to exhaust the stack.
  struct DepthGuard {
    Parser& parser;
    explicit DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth) parser.fail_here("template nested too deeply");
    }
    ~DepthGuard() { --parser.depth_; }
  };

  const Token& current() const { return tokens_[index_]; }
  const Token& peek() const { return tokens_[std::min(index_ + 1, tokens_.size() - 1)]; }
  const Token& advance() {
    const Token& token = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return token;
  }

  static std::string describe(const Token& token) { return describe_token(token); }

  [[noreturn]] void fail_at(const Token& token, const std::string& message) const {
    throw_template_error(token.line, token.column, message);
  }
  [[noreturn]] void fail_here(const std::string& message) const {
    fail_at(current(), message + " (found " + describe(current()) + ")");
  }

  bool is_op(const char* op) const {
    return current().type == TokenType::Operator && current().text == op;
  }
  bool is_name(const char* name) const {
    return current().type == TokenType::Name && current().text == name;
  }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail_here(fmt::format("expected '{}'", op));
  }
  std::string expect_identifier() {
    if (current().type != TokenType::Name) fail_here("expected a name");
    return advance().text;
  }
  void expect_block_end() {
    if (current().type != TokenType::BlockEnd) fail_here("expected end of statement block");
    advance();
  }

  template <typename T>
  std::unique_ptr<T> make(const Token& at) {
    auto node = std::make_unique<T>();
    node->line = at.line;
    node->column = at.column;
    return node;
  }
  // Sets node->depth from its children; fails when chains (a.b.c..., x|f|g...) grow too deep.
  ExprPtr sealed(ExprPtr node) const {
    int depth = 0;
    for (const ExprPtr& child : node->children)
      if (child) depth = std::max(depth, child->depth);
    for (const auto& kwarg : node->kwargs) depth = std::max(depth, kwarg.second->depth);
    node->depth = depth + 1;
    if (node->depth > kMaxDepth) fail_at(current(), "expression nested too deeply");
    return node;
  }

  ExprPtr make_expr(ExprKind kind, const Token& at) {
    ExprPtr e = make<Expr>(at);
    e->kind = kind;
    return e;
  }

  // ---- statements ----

  // Parses until a block whose first name is one of `end_names` (left unconsumed, the BlockBegin
  // consumed) or the end of the template.
  Body subparse(std::initializer_list<const char*> end_names) {
    DepthGuard guard(*this);
    Body body;
    while (current().type != TokenType::End) {
      const Token& token = current();
      if (token.type == TokenType::Data) {
        StmtPtr text = make<Stmt>(token);
        text->kind = StmtKind::Text;
        text->text = advance().text;
        body.push_back(std::move(text));
      } else if (token.type == TokenType::VariableBegin) {
        advance();
        StmtPtr print = make<Stmt>(token);
        print->kind = StmtKind::Print;
        print->expr = parse_tuple(true, {});
        if (current().type != TokenType::VariableEnd) fail_here("expected end of print statement");
        advance();
        body.push_back(std::move(print));
      } else if (token.type == TokenType::BlockBegin) {
        advance();
        if (current().type == TokenType::Name) {
          for (const char* end : end_names)
            if (current().text == end) return body;
        }
        body.push_back(parse_statement(end_names));
      } else {
        fail_here("unexpected token");
      }
    }
    if (end_names.size() > 0) {
      std::string expected;
      for (const char* end : end_names)
        expected += std::string(expected.empty() ? "" : " or ") + "'" + end + "'";
      fail_at(current(), "unexpected end of template, expected " + expected);
    }
    return body;
  }

  StmtPtr parse_statement(std::initializer_list<const char*> end_names) {
    const Token& token = current();
    if (token.type != TokenType::Name) fail_here("expected a tag name");
    const std::string& tag = token.text;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "generation") return parse_scope("generation", "endgeneration");
    if (tag == "break" || tag == "continue") {
      advance();
      StmtPtr stmt = make<Stmt>(token);
      stmt->kind = tag == "break" ? StmtKind::Break : StmtKind::Continue;
      expect_block_end();
      return stmt;
    }
    std::string message = "unknown tag '" + tag + "'";
    if (end_names.size() > 0) {
      std::string expected;
      for (const char* end : end_names)
        expected += std::string(expected.empty() ? "" : ", ") + "'" + end + "'";
      message += " (expected " + expected + ")";
    }
    fail_at(token, message);
  }

  StmtPtr parse_if() {
    StmtPtr stmt = make<Stmt>(advance());
    stmt->kind = StmtKind::If;
    ExprPtr condition = parse_tuple(false, {});
    while (true) {
      expect_block_end();
      Body body = subparse({"elif", "else", "endif"});
      stmt->branches.emplace_back(std::move(condition), std::move(body));
      const std::string tag = advance().text;
      if (tag == "elif") {
        condition = parse_tuple(false, {});
        continue;
      }
      if (tag == "else") {
        expect_block_end();
        stmt->branches.emplace_back(nullptr, subparse({"endif"}));
        advance();
      }
      expect_block_end();
      return stmt;
    }
  }

  StmtPtr parse_for() {
    StmtPtr stmt = make<Stmt>(advance());
    stmt->kind = StmtKind::For;
    stmt->target = parse_assign_target(false, {"in"});
    if (!skip_name("in")) fail_here("expected 'in'");
    stmt->expr = parse_tuple(false, {"recursive"}, false);
    if (skip_name("if")) stmt->condition = parse_expression(true);
    if (is_name("recursive")) fail_here("recursive loops are not supported");
    expect_block_end();
    stmt->body = subparse({"endfor", "else"});
    if (advance().text == "else") {
      expect_block_end();
      stmt->else_body = subparse({"endfor"});
      advance();
    }
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_set() {
    StmtPtr stmt = make<Stmt>(advance());
    stmt->target = parse_assign_target(true, {});
    if (skip_op("=")) {
      stmt->kind = StmtKind::Set;
      stmt->expr = parse_tuple(true, {});
      expect_block_end();
      return stmt;
    }
    stmt->kind = StmtKind::SetBlock;
    if (is_op("|")) stmt->expr = parse_filter_chain(nullptr);
    expect_block_end();
    stmt->body = subparse({"endset"});
    advance();
    expect_block_end();
    return stmt;
  }

  // name(param, param=default, ...)
  void parse_signature(Stmt& stmt) {
    expect_op("(");
    while (!is_op(")")) {
      if (!stmt.params.empty()) expect_op(",");
      if (is_op(")")) break;
      stmt.params.push_back(expect_identifier());
      stmt.defaults.push_back(skip_op("=") ? parse_expression(true) : nullptr);
    }
    advance();
  }

  StmtPtr parse_macro() {
    StmtPtr stmt = make<Stmt>(advance());
    stmt->kind = StmtKind::Macro;
    stmt->name = expect_identifier();
    parse_signature(*stmt);
    expect_block_end();
    stmt->body = subparse({"endmacro"});
    advance();
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_call_block() {
    StmtPtr stmt = make<Stmt>(advance());
    stmt->kind = StmtKind::CallBlock;
    if (is_op("(")) parse_signature(*stmt);
    const Token& at = current();
    stmt->expr = parse_expression(true);
    if (stmt->expr->kind != ExprKind::Call) fail_at(at, "expected call");
    expect_block_end();
    stmt->body = subparse({"endcall"});
    advance();
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_filter_block() {
    StmtPtr stmt = make<Stmt>(advance());
    stmt->kind = StmtKind::FilterBlock;
    stmt->expr = parse_filter_chain(nullptr, true);
    expect_block_end();
    stmt->body = subparse({"endfilter"});
    advance();
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_with() {
    StmtPtr stmt = make<Stmt>(advance());
    stmt->kind = StmtKind::With;
    while (current().type != TokenType::BlockEnd) {
      if (!stmt->targets.empty()) expect_op(",");
      stmt->targets.push_back(parse_assign_target(false, {}));
      expect_op("=");
      stmt->values.push_back(parse_expression(true));
    }
    expect_block_end();
    stmt->body = subparse({"endwith"});
    advance();
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_scope(const char* /*name*/, const char* end) {
    StmtPtr stmt = make<Stmt>(advance());
    stmt->kind = StmtKind::Scope;
    expect_block_end();
    stmt->body = subparse({end});
    advance();
    expect_block_end();
    return stmt;
  }

  // A name, `ns.attr` (with_namespace), or a tuple of names, as jinja2's parse_assign_target.
  ExprPtr parse_assign_target(bool with_namespace, std::initializer_list<const char*> extra_end) {
    const Token& at = current();
    ExprPtr target;
    if (with_namespace && current().type == TokenType::Name && peek().type == TokenType::Operator &&
        peek().text == ".") {
      ExprPtr object = make_expr(ExprKind::Name, at);
      object->name = advance().text;
      advance();
      target = make_expr(ExprKind::GetAttr, at);
      target->name = expect_identifier();
      target->children.push_back(std::move(object));
      return target;
    }
    if (current().type == TokenType::Name) {
      target = make_expr(ExprKind::Name, at);
      target->name = advance().text;
      if (!is_op(",")) return target;
      ExprPtr tuple = make_expr(ExprKind::Tuple, at);
      tuple->children.push_back(std::move(target));
      while (skip_op(",")) {
        if (is_tuple_end(extra_end) || is_op("=")) break;
        ExprPtr name = make_expr(ExprKind::Name, current());
        name->name = expect_identifier();
        tuple->children.push_back(std::move(name));
      }
      return tuple;
    }
    if (skip_op("(")) {
      ExprPtr tuple = make_expr(ExprKind::Tuple, at);
      while (!is_op(")")) {
        if (!tuple->children.empty()) expect_op(",");
        if (is_op(")")) break;
        tuple->children.push_back(parse_assign_target(false, {}));
      }
      advance();
      return tuple;
    }
    fail_here("can't assign to this target");
  }

  // ---- expressions ----

  bool is_tuple_end(std::initializer_list<const char*> extra_end) const {
    const Token& token = current();
    if (token.type == TokenType::VariableEnd || token.type == TokenType::BlockEnd ||
        token.type == TokenType::End)
      return true;
    if (token.type == TokenType::Operator && token.text == ")") return true;
    if (token.type == TokenType::Name)
      for (const char* end : extra_end)
        if (token.text == end) return true;
    return false;
  }

  ExprPtr parse_tuple(bool with_condexpr, std::initializer_list<const char*> extra_end,
                      bool explicit_parentheses = false) {
    const Token& at = current();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) fail_here("expected an expression");
    }
    ExprPtr tuple = make_expr(ExprKind::Tuple, at);
    tuple->children = std::move(items);
    return tuple;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      ExprPtr node = make_expr(ExprKind::Conditional, advance());
      ExprPtr condition = parse_or();
      ExprPtr otherwise = skip_name("else") ? parse_condexpr() : nullptr;
      node->children.push_back(std::move(condition));
      node->children.push_back(std::move(expr));
      node->children.push_back(std::move(otherwise));
      expr = sealed(std::move(node));
    }
    return expr;
  }

  ExprPtr binary(ExprKind kind, const Token& at, ExprPtr left, ExprPtr right, std::string op = "") {
    ExprPtr node = make_expr(kind, at);
    node->name = std::move(op);
    node->children.push_back(std::move(left));
    node->children.push_back(std::move(right));
    return sealed(std::move(node));
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      const Token& at = advance();
      left = binary(ExprKind::Or, at, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      const Token& at = advance();
      left = binary(ExprKind::And, at, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      ExprPtr node = make_expr(ExprKind::Not, advance());
      node->children.push_back(parse_not());
      return node;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& at = current();
    ExprPtr first = parse_math1();
    ExprPtr node;
    while (true) {
      std::string op;
      if (current().type == TokenType::Operator &&
          (is_op("==") || is_op("!=") || is_op("<") || is_op("<=") || is_op(">") || is_op(">="))) {
        op = advance().text;
      } else if (is_name("in")) {
        advance();
        op = "in";
      } else if (is_name("not") && peek().type == TokenType::Name && peek().text == "in") {
        advance();
        advance();
        op = "not in";
      } else {
        break;
      }
      if (!node) {
        node = make_expr(ExprKind::Compare, at);
        node->children.push_back(std::move(first));
      }
      node->operators.push_back(op);
      node->children.push_back(parse_math1());
    }
    return node ? std::move(node) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = advance();
      left = binary(ExprKind::Binary, at, std::move(left), parse_concat(), at.text);
    }
    return left;
  }

  ExprPtr parse_concat() {
    const Token& at = current();
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    ExprPtr node = make_expr(ExprKind::Concat, at);
    node->children.push_back(std::move(first));
    while (skip_op("~")) node->children.push_back(parse_math2());
    return node;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = advance();
      left = binary(ExprKind::Binary, at, std::move(left), parse_pow(), at.text);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      const Token& at = advance();
      left = binary(ExprKind::Binary, at, std::move(left), parse_unary(true), "**");
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& at = advance();
      node = make_expr(at.text == "-" ? ExprKind::Negate : ExprKind::Plus, at);
      node->children.push_back(parse_unary(false));
      node = sealed(std::move(node));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& token = current();
    switch (token.type) {
      case TokenType::Name: {
        advance();
        ExprPtr node = make_expr(ExprKind::Literal, token);
        if (token.text == "true" || token.text == "True") {
          node->literal = Value(true);
        } else if (token.text == "false" || token.text == "False") {
          node->literal = Value(false);
        } else if (token.text == "none" || token.text == "None") {
          node->literal = Value::none();
        } else {
          node->kind = ExprKind::Name;
          node->name = token.text;
        }
        return node;
      }
      case TokenType::String: {
        std::string text;
        while (current().type == TokenType::String) text += advance().text;
        ExprPtr node = make_expr(ExprKind::Literal, token);
        node->literal = Value(std::move(text));
        return node;
      }
      case TokenType::Integer:
      case TokenType::Float: {
        advance();
        ExprPtr node = make_expr(ExprKind::Literal, token);
        node->literal =
            token.type == TokenType::Integer ? Value(token.integer) : Value(token.number);
        return node;
      }
      case TokenType::Operator:
        if (token.text == "(") {
          advance();
          ExprPtr node = parse_tuple(true, {}, true);
          expect_op(")");
          return node;
        }
        if (token.text == "[") return parse_list();
        if (token.text == "{") return parse_dict();
        break;
      default:
        break;
    }
    fail_at(token, "unexpected " + describe(token));
  }

  ExprPtr parse_list() {
    ExprPtr node = make_expr(ExprKind::List, advance());
    while (!is_op("]")) {
      if (!node->children.empty()) expect_op(",");
      if (is_op("]")) break;
      node->children.push_back(parse_expression(true));
    }
    advance();
    return node;
  }

  ExprPtr parse_dict() {
    ExprPtr node = make_expr(ExprKind::Dict, advance());
    while (!is_op("}")) {
      if (!node->children.empty()) expect_op(",");
      if (is_op("}")) break;
      node->children.push_back(parse_expression(true));
      expect_op(":");
      node->children.push_back(parse_expression(true));
    }
    advance();
    return node;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    DepthGuard guard(*this);
    const Token& at = advance();
    if (at.text == ".") {
      const Token& attr = current();
      if (attr.type == TokenType::Name) {
        ExprPtr node = make_expr(ExprKind::GetAttr, at);
        node->name = advance().text;
        node->children.push_back(std::move(object));
        return sealed(std::move(node));
      }
      if (attr.type == TokenType::Integer) {
        ExprPtr node = make_expr(ExprKind::GetItem, at);
        ExprPtr key = make_expr(ExprKind::Literal, attr);
        key->literal = Value(advance().integer);
        node->children.push_back(std::move(object));
        node->children.push_back(std::move(key));
        return sealed(std::move(node));
      }
      fail_here("expected name or number");
    }
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) {
        expect_op(",");
        if (is_op("]")) break;
      }
      args.push_back(parse_subscribed());
    }
    advance();
    ExprPtr node = make_expr(ExprKind::GetItem, at);
    node->children.push_back(std::move(object));
    if (args.size() == 1) {
      node->children.push_back(std::move(args[0]));
    } else {
      if (args.empty()) fail_at(at, "expected a subscript");
      ExprPtr tuple = make_expr(ExprKind::Tuple, at);
      tuple->children = std::move(args);
      node->children.push_back(std::move(tuple));
    }
    return sealed(std::move(node));
  }

  ExprPtr parse_subscribed() {
    const Token& at = current();
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    advance();  // ':'
    ExprPtr slice = make_expr(ExprKind::Slice, at);
    slice->children.push_back(std::move(start));
    slice->children.push_back(is_op("]") || is_op(",") || is_op(":") ? nullptr
                                                                     : parse_expression(true));
    ExprPtr step;
    if (skip_op(":") && !is_op("]") && !is_op(",")) step = parse_expression(true);
    slice->children.push_back(std::move(step));
    return slice;
  }

  // (args, name=value, ...) appended to node's children / kwargs.
  void parse_call_args(Expr& node) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) {
        expect_op(",");
        if (is_op(")")) break;
      }
      first = false;
      if (is_op("*") || is_op("**")) fail_here("*args and **kwargs in calls are not supported");
      if (current().type == TokenType::Name && peek().type == TokenType::Operator &&
          peek().text == "=") {
        std::string key = advance().text;
        advance();
        node.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!node.kwargs.empty()) fail_here("positional argument after keyword argument");
        node.children.push_back(parse_expression(true));
      }
    }
    advance();
  }

  ExprPtr parse_call(ExprPtr callee) {
    DepthGuard guard(*this);
    ExprPtr node = make_expr(ExprKind::Call, current());
    node->children.push_back(std::move(callee));
    parse_call_args(*node);
    return sealed(std::move(node));
  }

  std::string parse_dotted_name() {
    std::string name = expect_identifier();
    while (is_op(".") && peek().type == TokenType::Name) {
      advance();
      name += "." + advance().text;
    }
    return name;
  }

  // | name(args) | name ... ; with `start_without_pipe` the first filter has no leading pipe.
  ExprPtr parse_filter_chain(ExprPtr node, bool start_without_pipe = false) {
    bool first = true;
    while ((first && start_without_pipe) || is_op("|")) {
      DepthGuard guard(*this);
      if (!(first && start_without_pipe)) advance();
      first = false;
      const Token& at = current();
      ExprPtr filter = make_expr(ExprKind::Filter, at);
      filter->name = parse_dotted_name();
      if (!has_filter(filter->name)) fail_at(at, "No filter named '" + filter->name + "'.");
      filter->children.push_back(std::move(node));
      if (is_op("(")) parse_call_args(*filter);
      node = sealed(std::move(filter));
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    DepthGuard guard(*this);
    ExprPtr test = make_expr(ExprKind::Test, advance());  // 'is'
    test->negated = skip_name("not");
    const Token& name_token = current();
    test->name = parse_dotted_name();
    if (!has_test(test->name)) fail_at(name_token, "No test named '" + test->name + "'.");
    test->children.push_back(std::move(node));
    const Token& next = current();
    const bool starts_argument =
        next.type == TokenType::Name || next.type == TokenType::String ||
        next.type == TokenType::Integer || next.type == TokenType::Float ||
        (next.type == TokenType::Operator && (next.text == "[" || next.text == "{"));
    if (is_op("(")) {
      parse_call_args(*test);
    } else if (starts_argument && !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail_here("You cannot chain multiple tests with is");
      test->children.push_back(parse_postfix(parse_primary()));
    }
    return sealed(std::move(test));
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }
};

}  // namespace

Body parse_template(const std::string& source) {
  return Parser(tokenize(source)).parse();
}

}  // namespace dpo::jinja
