// Statement execution and expression evaluation of the Jinja interpreter.
#include "chat/jinja_eval.h"

#include <fmt/format.h>

#include <unordered_map>

#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"
#include "util/error.h"

namespace dpo::jinja {
namespace {

constexpr int kMaxCallDepth = 100;         // macro recursion
constexpr int64_t kMaxSteps = 20'000'000;  // statements and loop iterations per render

struct Frame {
  std::unordered_map<std::string, Value> variables;
  std::shared_ptr<Frame> parent;
};
using FramePtr = std::shared_ptr<Frame>;

enum class Flow { Normal, Break, Continue };

class Evaluator {
 public:
  explicit Evaluator(const std::vector<std::pair<std::string, Value>>& variables) {
    auto builtins = std::make_shared<Frame>();
    for (auto& [name, value] : builtin_globals()) builtins->variables[name] = value;
    root_ = std::make_shared<Frame>();
    root_->parent = builtins;
    for (const auto& [name, value] : variables) root_->variables[name] = value;
  }

  std::string run(const Body& program) {
    std::string out;
    exec_body(program, root_, out);
    return out;
  }

 private:
  FramePtr root_;
  int call_depth_ = 0;
  int64_t steps_ = 0;

  void count_step(const Stmt& stmt) {
    if (++steps_ > kMaxSteps)
      throw_template_error(stmt.line, stmt.column,
                           "template too expensive (more than 20 million steps)");
  }

  static Value lookup(const FramePtr& frame, const std::string& name) {
    for (const Frame* f = frame.get(); f; f = f->parent.get()) {
      auto it = f->variables.find(name);
      if (it != f->variables.end()) return it->second;
    }
    return Value::undefined("'" + name + "' is undefined");
  }

  // ---- statements ----

  Flow exec_body(const Body& body, const FramePtr& frame, std::string& out) {
    for (const StmtPtr& stmt : body) {
      const Flow flow = exec(*stmt, frame, out);
      if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
  }

  Flow exec(const Stmt& stmt, const FramePtr& frame, std::string& out) {
    count_step(stmt);
    try {
      switch (stmt.kind) {
        case StmtKind::Text:
          out += stmt.text;
          return Flow::Normal;
        case StmtKind::Print:
          out += eval(*stmt.expr, frame).str();
          return Flow::Normal;
        case StmtKind::If:
          for (const auto& [condition, body] : stmt.branches)
            if (!condition || eval(*condition, frame).truthy()) return exec_body(body, frame, out);
          return Flow::Normal;
        case StmtKind::For:
          exec_for(stmt, frame, out);
          return Flow::Normal;
        case StmtKind::Set:
          assign(*stmt.target, eval(*stmt.expr, frame), frame);
          return Flow::Normal;
        case StmtKind::SetBlock: {
          std::string text;
          exec_body(stmt.body, frame, text);
          Value value(std::move(text));
          if (stmt.expr) value = eval_filter(*stmt.expr, frame, &value);
          assign(*stmt.target, value, frame);
          return Flow::Normal;
        }
        case StmtKind::Macro:
          frame->variables[stmt.name] = make_macro(stmt, frame, stmt.name);
          return Flow::Normal;
        case StmtKind::CallBlock:
          out += call_with_caller(stmt, frame).str();
          return Flow::Normal;
        case StmtKind::FilterBlock: {
          std::string text;
          exec_body(stmt.body, frame, text);
          Value value(std::move(text));
          out += eval_filter(*stmt.expr, frame, &value).str();
          return Flow::Normal;
        }
        case StmtKind::With: {
          auto scope = std::make_shared<Frame>();
          scope->parent = frame;
          for (size_t i = 0; i < stmt.targets.size(); ++i)
            assign(*stmt.targets[i], eval(*stmt.values[i], frame), scope);
          return exec_body(stmt.body, scope, out);
        }
        case StmtKind::Break:
          return Flow::Break;
        case StmtKind::Continue:
          return Flow::Continue;
        case StmtKind::Scope:
          return exec_body(stmt.body, frame, out);
      }
    } catch (const EvalError& error) {
      throw_template_error(stmt.line, stmt.column, error.what());
    }
    return Flow::Normal;
  }

  void exec_for(const Stmt& stmt, const FramePtr& frame, std::string& out) {
    List items;
    for (Value& item : eval(*stmt.expr, frame).iterate()) {
      if (stmt.condition) {
        auto probe = std::make_shared<Frame>();
        probe->parent = frame;
        assign(*stmt.target, item, probe);
        if (!eval(*stmt.condition, probe).truthy()) continue;
      }
      items.push_back(std::move(item));
    }
    if (items.empty()) {
      exec_body(stmt.else_body, frame, out);
      return;
    }
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      count_step(stmt);
      auto scope = std::make_shared<Frame>();
      scope->parent = frame;
      assign(*stmt.target, items[static_cast<size_t>(i)], scope);
      scope->variables["loop"] = make_loop(items, i);
      if (exec_body(stmt.body, scope, out) == Flow::Break) break;
    }
  }

  static Value make_loop(const List& items, int64_t i) {
    const auto length = static_cast<int64_t>(items.size());
    Value loop = Value::loop_object();
    Dict& fields = loop.as_dict();
    fields.set("index", Value(i + 1));
    fields.set("index0", Value(i));
    fields.set("revindex", Value(length - i));
    fields.set("revindex0", Value(length - i - 1));
    fields.set("first", Value(i == 0));
    fields.set("last", Value(i == length - 1));
    fields.set("length", Value(length));
    fields.set("depth", Value(1));
    fields.set("depth0", Value(0));
    fields.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                                 : Value::undefined("there is no previous item"));
    fields.set("nextitem", i + 1 < length ? items[static_cast<size_t>(i + 1)]
                                          : Value::undefined("there is no next item"));
    fields.set("cycle", Value::function("loop.cycle", [i](CallArgs& args) -> Value {
                 if (args.positional.empty()) throw EvalError("no items for cycling given");
                 return args.positional[static_cast<size_t>(i) % args.positional.size()];
               }));
    return loop;
  }

  void assign(const Expr& target, const Value& value, const FramePtr& frame) {
    switch (target.kind) {
      case ExprKind::Name:
        frame->variables[target.name] = value;
        return;
      case ExprKind::GetAttr: {
        const std::string& object_name = target.children[0]->name;
        Value object = lookup(frame, object_name);
        if (!object.is_namespace())
          throw EvalError("cannot assign attribute on non-namespace object");
        object.as_dict().set(Value(target.name), value);
        return;
      }
      case ExprKind::Tuple: {
        const List items = value.iterate();
        if (items.size() != target.children.size()) {
          if (items.size() > target.children.size())
            throw EvalError(
                fmt::format("too many values to unpack (expected {})", target.children.size()));
          throw EvalError(fmt::format("not enough values to unpack (expected {}, got {})",
                                      target.children.size(), items.size()));
        }
        for (size_t i = 0; i < items.size(); ++i) assign(*target.children[i], items[i], frame);
        return;
      }
      default:
        throw EvalError("can't assign to this target");
    }
  }

  // ---- macros ----

  // The frame is held weakly (a macro stored in its own frame would otherwise keep it alive).
  Value make_macro(const Stmt& macro, const FramePtr& frame, const std::string& name) {
    std::weak_ptr<Frame> defining = frame;
    return Value::function(name, [this, &macro, defining, name](CallArgs& args) -> Value {
      return call_macro(macro, defining.lock(), name, args);
    });
  }

  Value call_macro(const Stmt& macro, FramePtr defining, const std::string& name, CallArgs& args) {
    if (!defining) defining = root_;
    if (call_depth_ >= kMaxCallDepth) throw EvalError("maximum recursion depth exceeded");
    if (args.positional.size() > macro.params.size())
      throw EvalError(
          fmt::format("macro '{}' takes not more than {} argument(s)", name, macro.params.size()));
    auto scope = std::make_shared<Frame>();
    scope->parent = defining;
    std::vector<bool> bound(macro.params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
      scope->variables[macro.params[i]] = args.positional[i];
      bound[i] = true;
    }
    for (const auto& [key, value] : args.keyword) {
      size_t i = 0;
      while (i < macro.params.size() && macro.params[i] != key) ++i;
      if (i == macro.params.size()) {
        if (key == "caller") {
          scope->variables["caller"] = value;
          continue;
        }
        throw EvalError(fmt::format("macro '{}' takes no keyword argument '{}'", name, key));
      }
      scope->variables[key] = value;
      bound[i] = true;
    }
    for (size_t i = 0; i < macro.params.size(); ++i) {
      if (bound[i]) continue;
      scope->variables[macro.params[i]] =
          macro.defaults[i]
              ? eval(*macro.defaults[i], scope)
              : Value::undefined("parameter '" + macro.params[i] + "' was not provided");
    }
    ++call_depth_;
    std::string out;
    try {
      exec_body(macro.body, scope, out);
    } catch (...) {
      --call_depth_;
      throw;
    }
    --call_depth_;
    return Value(std::move(out));
  }

  Value call_with_caller(const Stmt& stmt, const FramePtr& frame) {
    const Value caller = make_macro(stmt, frame, "caller");
    const Expr& call = *stmt.expr;
    const Value callee = eval(*call.children[0], frame);
    CallArgs args = eval_args(call, frame);
    args.keyword.emplace_back("caller", caller);
    if (!callee.is_callable())
      throw EvalError(fmt::format("'{}' object is not callable", callee.type_name()));
    // Macros take `caller` from the keyword; builtins would reject it, as in Jinja.
    return callee.as_callable().call(args);
  }

  // ---- expressions ----

  CallArgs eval_args(const Expr& node, const FramePtr& frame, size_t first = 1) {
    CallArgs args;
    for (size_t i = first; i < node.children.size(); ++i)
      args.positional.push_back(eval(*node.children[i], frame));
    for (const auto& [key, value] : node.kwargs)
      args.keyword.emplace_back(key, eval(*value, frame));
    return args;
  }

  Value eval_filter(const Expr& node, const FramePtr& frame, const Value* base) {
    const Value input =
        node.children[0] ? eval_filter_input(*node.children[0], frame, base) : *base;
    CallArgs args = eval_args(node, frame);
    return apply_filter(node.name, input, args);
  }

  Value eval_filter_input(const Expr& node, const FramePtr& frame, const Value* base) {
    if (node.kind == ExprKind::Filter) return eval_filter(node, frame, base);
    return eval(node, frame);
  }

  Value eval(const Expr& node, const FramePtr& frame) {
    try {
      return eval_node(node, frame);
    } catch (const EvalError& error) {
      throw_template_error(node.line, node.column, error.what());
    }
  }

  Value eval_node(const Expr& node, const FramePtr& frame) {
    const auto child = [&](size_t i) { return eval(*node.children[i], frame); };
    switch (node.kind) {
      case ExprKind::Literal:
        return node.literal;
      case ExprKind::Name:
        return lookup(frame, node.name);
      case ExprKind::List:
      case ExprKind::Tuple: {
        List items;
        for (size_t i = 0; i < node.children.size(); ++i) items.push_back(child(i));
        return node.kind == ExprKind::List ? Value::list(std::move(items))
                                           : Value::tuple(std::move(items));
      }
      case ExprKind::Dict: {
        Value dict = Value::dict();
        for (size_t i = 0; i + 1 < node.children.size(); i += 2)
          dict.as_dict().set(child(i), child(i + 1));
        return dict;
      }
      case ExprKind::GetAttr:
        return get_attribute(child(0), node.name);
      case ExprKind::GetItem: {
        const Value object = child(0);
        const Expr& key = *node.children[1];
        if (key.kind == ExprKind::Slice) {
          const auto part = [&](size_t i) {
            return key.children[i] ? eval(*key.children[i], frame) : Value::none();
          };
          return get_slice(object, part(0), part(1), part(2));
        }
        return get_item(object, eval(key, frame));
      }
      case ExprKind::Slice:
        throw EvalError("a slice is only valid inside []");
      case ExprKind::Call: {
        const Value callee = child(0);
        CallArgs args = eval_args(node, frame);
        if (callee.is_undefined()) throw EvalError(callee.undefined_hint());
        if (!callee.is_callable())
          throw EvalError(fmt::format("'{}' object is not callable", callee.type_name()));
        return callee.as_callable().call(args);
      }
      case ExprKind::Filter:
        return eval_filter(node, frame, nullptr);
      case ExprKind::Test: {
        const Value input = child(0);
        CallArgs args = eval_args(node, frame);
        return Value(apply_test(node.name, input, args) != node.negated);
      }
      case ExprKind::Not:
        return Value(!child(0).truthy());
      case ExprKind::Negate:
        return negate(child(0));
      case ExprKind::Plus:
        return unary_plus(child(0));
      case ExprKind::Binary:
        return binary_operation(node.name, child(0), child(1));
      case ExprKind::Compare: {
        Value left = child(0);
        for (size_t i = 0; i < node.operators.size(); ++i) {
          Value right = child(i + 1);
          const std::string& op = node.operators[i];
          bool holds = false;
          if (op == "in" || op == "not in") {
            holds = contains(right, left) == (op == "in");
          } else {
            holds = compare(op, left, right);
          }
          if (!holds) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case ExprKind::And: {
        Value left = child(0);
        return left.truthy() ? child(1) : left;
      }
      case ExprKind::Or: {
        Value left = child(0);
        return left.truthy() ? left : child(1);
      }
      case ExprKind::Conditional:
        if (child(0).truthy()) return child(1);
        if (node.children[2]) return child(2);
        return Value::undefined(
            fmt::format("the inline if-expression on line {} evaluated to false and no else "
                        "section was defined.",
                        node.line));
      case ExprKind::Concat: {
        std::string text;
        for (size_t i = 0; i < node.children.size(); ++i) text += child(i).str();
        return Value(std::move(text));
      }
    }
    throw EvalError("unknown expression");
  }
};

}  // namespace

std::string render(const Body& program,
                   const std::vector<std::pair<std::string, Value>>& variables) {
  return Evaluator(variables).run(program);
}

}  // namespace dpo::jinja
