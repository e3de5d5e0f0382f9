#include "eulerstack/spec/expressions.hpp"

// A tokenizer and a precedence-climbing parser that evaluates as it parses.
// Binary operators of one level and runs of unary signs are loops, so only
// parentheses recurse (and their depth is bounded): a hostile `1+1+...+1` or
// `- - - ... 1` cannot exhaust the stack. The same parser runs once without
// evaluating (a syntax check that needs no values) and once evaluating.
//
// Positions in messages are 1-based characters (UTF-8 code points) of the
// expression text as shown in the message: the whole `${...}` when resolving
// a document, the bare expression for evaluate_expression.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "eulerstack/suggest.hpp"

namespace eulerstack::spec {
namespace {

constexpr int kMaxParenDepth = 100;

// ---------------------------------------------------------------- numbers

struct Number {
  bool is_int = true;
  long long i = 0;
  double f = 0.0;

  static Number integer(long long v) { return {true, v, 0.0}; }
  static Number real(double v) { return {false, 0, v}; }
  double as_double() const { return is_int ? static_cast<double>(i) : f; }
  Json to_json() const { return is_int ? Json(i) : Json(f); }
  std::string text() const { return is_int ? std::to_string(i) : Json(f).dump(); }
};

// ---------------------------------------------------------------- errors

Error expr_error(std::string id, MessageArgs args) {
  return Error(make_error("ValidationError", std::move(id), std::move(args)));
}

// Thrown when an expression uses a let entry whose own evaluation already
// failed (and was reported): the expression fails without a second message.
struct DependencyFailed {};

std::string type_word(const Json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "bool";
  if (value.is_string()) return "string";
  if (value.is_array()) return "list";
  if (value.is_object()) return "mapping";
  return "number";
}

std::string join_refs(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "let." : ", let.") + name;
  return out;
}

// ---------------------------------------------------------------- tokens

enum class Tok { Number, Ref, Plus, Minus, Star, Slash, SlashSlash, Percent, LParen, RParen, End };

struct Token {
  Tok kind = Tok::End;
  std::size_t begin = 0;  // byte offsets into the displayed text
  std::size_t end = 0;
  Number number;
  std::string name;  // Ref: the let name
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident(char c) { return is_ident_start(c) || is_digit(c); }

// `digits` made of one or more digits of the base, single underscores between them.
bool valid_digit_group(std::string_view digits, int base) {
  if (digits.empty() || digits.front() == '_' || digits.back() == '_') return false;
  char previous = 0;
  for (char c : digits) {
    if (c == '_') {
      if (previous == '_') return false;
    } else {
      int value = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 99;
      if (value >= base) return false;
    }
    previous = c;
  }
  return true;
}

std::string without_underscores(std::string_view text) {
  std::string out;
  for (char c : text)
    if (c != '_') out += c;
  return out;
}

class Expression {
 public:
  using Lookup = std::function<Number(const std::string& name)>;

  // The expression is text[begin, end); positions are reported against all of `text`.
  // `known_names` (for suggestions) must outlive the Expression.
  Expression(std::string_view text, std::size_t begin, std::size_t end, const std::vector<std::string>& known_names)
      : text_(text), begin_(begin), end_(end), known_(known_names) {
    tokenize();
  }

  // The names used (let.<name>), each once, in order of appearance.
  std::vector<std::string> references() const {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& t : tokens_)
      if (t.kind == Tok::Ref && seen.insert(t.name).second) out.push_back(t.name);
    return out;
  }

  void check_syntax() { run(nullptr); }
  Number evaluate(const Lookup& lookup) { return run(&lookup); }

 private:
  // ---- positions and messages

  int position(std::size_t byte) const {
    int chars = 0;
    for (std::size_t k = 0; k < byte && k < text_.size(); ++k)
      if ((static_cast<unsigned char>(text_[k]) & 0xC0) != 0x80) ++chars;
    return chars + 1;
  }

  MessageArgs args_at(std::size_t begin, std::size_t end) const {
    return {{"expr", std::string(text_)},
            {"position", std::to_string(position(begin))},
            {"found", std::string(text_.substr(begin, end - begin))}};
  }

  [[noreturn]] void fail_at(const std::string& id, std::size_t begin, std::size_t end) const {
    throw expr_error(id, args_at(begin, end));
  }

  // ---- tokenizer

  void tokenize() {
    std::size_t k = begin_;
    while (true) {
      while (k < end_ && is_space(text_[k])) ++k;
      if (k >= end_) break;
      const char c = text_[k];
      const char next = k + 1 < end_ ? text_[k + 1] : '\0';
      Token t;
      t.begin = k;
      if (is_digit(c) || (c == '.' && is_digit(next))) {
        k = read_number(k, t);
      } else if (is_ident_start(c)) {
        k = read_reference(k, t);
      } else {
        static const char* const unsupported[] = {"**", "<<", ">>", "<=", ">=", "==", "!=", "^", "&", "|",
                                                  "~",  "@",  "<",  ">",  "!"};
        for (const char* op : unsupported) {
          std::string_view o(op);
          if (text_.substr(k, o.size()) == o && k + o.size() <= end_) fail_at("expr.unsupported_operator", k, k + o.size());
        }
        std::size_t length = 1;
        switch (c) {
          case '+': t.kind = Tok::Plus; break;
          case '-': t.kind = Tok::Minus; break;
          case '*': t.kind = Tok::Star; break;
          case '%': t.kind = Tok::Percent; break;
          case '(': t.kind = Tok::LParen; break;
          case ')': t.kind = Tok::RParen; break;
          case '/':
            if (next == '/') {
              t.kind = Tok::SlashSlash;
              length = 2;
            } else {
              t.kind = Tok::Slash;
            }
            break;
          default: {
            // One whole UTF-8 character, so the message shows what the user typed.
            const auto u = static_cast<unsigned char>(c);
            std::size_t n = u < 0x80 ? 1 : (u >> 5) == 0x6 ? 2 : (u >> 4) == 0xE ? 3 : (u >> 3) == 0x1E ? 4 : 1;
            fail_at("expr.unexpected_character", k, std::min(k + n, end_));
          }
        }
        k += length;
      }
      t.end = k;
      tokens_.push_back(std::move(t));
    }
    Token end;
    end.kind = Tok::End;
    end.begin = end.end = end_;
    tokens_.push_back(end);
  }

  std::size_t read_number(std::size_t start, Token& t) {
    std::size_t k = start;
    auto scan_digits = [&](auto accept) {
      while (k < end_ && (accept(text_[k]) || text_[k] == '_')) ++k;
    };
    bool is_float = false;
    int base = 10;
    std::string_view digits;
    auto bad = [&]() {
      std::size_t stop = k;
      while (stop < end_ && (is_ident(text_[stop]) || text_[stop] == '.')) ++stop;
      fail_at("expr.bad_number", start, stop);
    };
    if (text_[k] == '0' && k + 1 < end_ && std::string_view("xXoObB").find(text_[k + 1]) != std::string_view::npos) {
      const char prefix = static_cast<char>(std::tolower(static_cast<unsigned char>(text_[k + 1])));
      base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : 2;
      k += 2;
      const std::size_t first = k;
      while (k < end_ && is_ident(text_[k])) ++k;
      std::string_view group = text_.substr(first, k - first);
      if (!group.empty() && group.front() == '_') group.remove_prefix(1);  // Python allows 0x_ff
      if (!valid_digit_group(group, base)) bad();
      digits = group;
    } else {
      scan_digits(is_digit);
      std::string_view whole = text_.substr(start, k - start);
      std::string_view fraction;
      std::string_view exponent;
      bool has_dot = false;
      if (k < end_ && text_[k] == '.') {
        has_dot = true;
        const std::size_t dot = ++k;
        scan_digits(is_digit);
        fraction = text_.substr(dot, k - dot);
      }
      if (k < end_ && (text_[k] == 'e' || text_[k] == 'E')) {
        std::size_t e = k + 1;
        if (e < end_ && (text_[e] == '+' || text_[e] == '-')) ++e;
        if (e < end_ && is_digit(text_[e])) {
          k = e;
          scan_digits(is_digit);
          exponent = text_.substr(e, k - e);
          is_float = true;
        }
      }
      if (has_dot) is_float = true;
      if (!whole.empty() && !valid_digit_group(whole, 10)) bad();
      if (!fraction.empty() && !valid_digit_group(fraction, 10)) bad();
      if (!exponent.empty() && !valid_digit_group(exponent, 10)) bad();
      if (whole.empty() && fraction.empty()) bad();
      // Python: no leading zeros in a non-zero decimal integer (007 is an error, 000 is 0).
      if (!is_float && whole.size() > 1 && whole.front() == '0' &&
          whole.find_first_not_of("0_") != std::string_view::npos)
        bad();
      digits = whole;
    }
    if (k < end_ && (is_ident(text_[k]) || text_[k] == '.')) bad();  // 1abc, 1e, 1.2.3, 2j

    t.kind = Tok::Number;
    if (is_float) {
      const std::string plain = without_underscores(text_.substr(start, k - start));
      double value = 0.0;
      auto [ptr, ec] = std::from_chars(plain.data(), plain.data() + plain.size(), value);
      if (ec == std::errc::result_out_of_range) {
        // Underflow is zero (as in Python); overflow is an error.
        std::size_t e = plain.find_first_of("eE");
        bool negative_exponent = e != std::string::npos && e + 1 < plain.size() && plain[e + 1] == '-';
        if (!negative_exponent) fail_at("expr.number_out_of_range", start, k);
        value = 0.0;
      } else if (ec != std::errc() || ptr != plain.data() + plain.size()) {
        bad();
      }
      if (!std::isfinite(value)) fail_at("expr.number_out_of_range", start, k);
      t.number = Number::real(value);
    } else {
      unsigned long long value = 0;
      const unsigned long long limit = static_cast<unsigned long long>(std::numeric_limits<long long>::max());
      for (char c : digits) {
        if (c == '_') continue;
        const int d = is_digit(c) ? c - '0' : std::tolower(static_cast<unsigned char>(c)) - 'a' + 10;
        if (value > (limit - static_cast<unsigned long long>(d)) / static_cast<unsigned long long>(base))
          fail_at("expr.number_out_of_range", start, k);
        value = value * static_cast<unsigned long long>(base) + static_cast<unsigned long long>(d);
      }
      t.number = Number::integer(static_cast<long long>(value));
    }
    return k;
  }

  std::size_t read_reference(std::size_t start, Token& t) {
    std::size_t k = start;
    while (k < end_ && is_ident(text_[k])) ++k;
    const std::string_view word = text_.substr(start, k - start);
    if (word != "let") {
      // A bare name: most likely a let entry written without `let.`.
      Diagnostic d = make_error("ValidationError", "expr.bad_reference", args_at(start, k));
      auto near = nearest_names(word, known_);
      if (!near.empty()) d.notes.push_back({"note.did_you_mean", {{"names", join_refs(near)}}});
      throw Error(std::move(d));
    }
    std::size_t j = k;
    while (j < end_ && is_space(text_[j])) ++j;
    if (j >= end_ || text_[j] != '.') fail_at("expr.bad_reference", start, k);
    ++j;
    while (j < end_ && is_space(text_[j])) ++j;
    if (j >= end_ || !is_ident_start(text_[j])) {
      std::size_t stop = j;
      while (stop < end_ && is_ident(text_[stop])) ++stop;
      fail_at("expr.bad_reference", start, stop);
    }
    const std::size_t name_begin = j;
    while (j < end_ && is_ident(text_[j])) ++j;
    t.kind = Tok::Ref;
    t.name = std::string(text_.substr(name_begin, j - name_begin));
    return j;
  }

  // ---- parser and evaluator

  Number run(const Lookup* lookup) {
    lookup_ = lookup;
    pos_ = 0;
    depth_ = 0;
    if (tokens_.size() == 1) throw expr_error("expr.empty", {{"expr", std::string(text_)}});
    Number value = parse_binary(1);
    const Token& t = tokens_[pos_];
    if (t.kind == Tok::RParen) fail_at("expr.unmatched_paren", t.begin, t.end);
    if (t.kind != Tok::End) fail_at("expr.expected_operator", t.begin, t.end);
    return value;
  }

  static int precedence(Tok kind) {
    switch (kind) {
      case Tok::Plus:
      case Tok::Minus: return 1;
      case Tok::Star:
      case Tok::Slash:
      case Tok::SlashSlash:
      case Tok::Percent: return 2;
      default: return 0;
    }
  }

  Number parse_binary(int min_precedence) {
    Number left = parse_unary();
    while (true) {
      const Token& op = tokens_[pos_];
      const int p = precedence(op.kind);
      if (p == 0 || p < min_precedence) return left;
      ++pos_;
      Number right = parse_binary(p + 1);
      if (lookup_) left = apply(op, left, right);
    }
  }

  Number parse_unary() {
    bool negate = false;
    while (tokens_[pos_].kind == Tok::Plus || tokens_[pos_].kind == Tok::Minus) {
      if (tokens_[pos_].kind == Tok::Minus) negate = !negate;
      ++pos_;
    }
    Number value = parse_primary();
    if (!negate || !lookup_) return value;
    if (!value.is_int) return Number::real(-value.f);
    if (value.i == std::numeric_limits<long long>::min())
      throw expr_error("expr.integer_overflow", {{"expr", std::string(text_)}, {"operation", "-(" + value.text() + ")"}});
    return Number::integer(-value.i);
  }

  Number parse_primary() {
    const Token& t = tokens_[pos_];
    switch (t.kind) {
      case Tok::Number:
        ++pos_;
        return t.number;
      case Tok::Ref:
        ++pos_;
        return lookup_ ? (*lookup_)(t.name) : Number{};
      case Tok::LParen: {
        if (++depth_ > kMaxParenDepth)
          throw expr_error("expr.too_deep", {{"expr", std::string(text_)}, {"limit", std::to_string(kMaxParenDepth)}});
        ++pos_;
        Number value = parse_binary(1);
        if (tokens_[pos_].kind != Tok::RParen) {
          if (tokens_[pos_].kind == Tok::End) fail_at("expr.unclosed_paren", t.begin, t.end);
          fail_at("expr.expected_operator", tokens_[pos_].begin, tokens_[pos_].end);
        }
        ++pos_;
        --depth_;
        return value;
      }
      case Tok::End:
        fail_at("expr.unexpected_end", t.begin, t.end);
      default:
        fail_at("expr.expected_operand", t.begin, t.end);
    }
  }

  Number apply(const Token& op, const Number& a, const Number& b) const {
    const std::string symbol(text_.substr(op.begin, op.end - op.begin));
    auto operation = [&] { return a.text() + " " + symbol + " " + b.text(); };
    auto fail = [&](const char* id) -> Error {
      return expr_error(id, {{"expr", std::string(text_)}, {"operation", operation()}});
    };
    const bool divides = op.kind == Tok::Slash || op.kind == Tok::SlashSlash || op.kind == Tok::Percent;
    if (divides && (b.is_int ? b.i == 0 : b.f == 0.0)) throw fail("expr.division_by_zero");

    if (a.is_int && b.is_int) {
      long long r = 0;
      switch (op.kind) {
        case Tok::Plus:
          if (__builtin_add_overflow(a.i, b.i, &r)) throw fail("expr.integer_overflow");
          return Number::integer(r);
        case Tok::Minus:
          if (__builtin_sub_overflow(a.i, b.i, &r)) throw fail("expr.integer_overflow");
          return Number::integer(r);
        case Tok::Star:
          if (__builtin_mul_overflow(a.i, b.i, &r)) throw fail("expr.integer_overflow");
          return Number::integer(r);
        case Tok::Slash:
          if (b.i == -1 && a.i == std::numeric_limits<long long>::min()) throw fail("expr.integer_overflow");
          if (a.i % b.i == 0) return Number::integer(a.i / b.i);  // exact: stays an integer
          return finite(static_cast<double>(static_cast<long double>(a.i) / static_cast<long double>(b.i)), fail);
        case Tok::SlashSlash: {
          if (b.i == -1 && a.i == std::numeric_limits<long long>::min()) throw fail("expr.integer_overflow");
          long long q = a.i / b.i;
          if ((a.i % b.i != 0) && ((a.i < 0) != (b.i < 0))) --q;  // floor, as Python
          return Number::integer(q);
        }
        case Tok::Percent: {
          if (b.i == -1) return Number::integer(0);  // also avoids LLONG_MIN % -1
          long long m = a.i % b.i;
          if (m != 0 && ((m < 0) != (b.i < 0))) m += b.i;  // the divisor's sign, as Python
          return Number::integer(m);
        }
        default: break;
      }
    }

    const double x = a.as_double();
    const double y = b.as_double();
    switch (op.kind) {
      case Tok::Plus: return finite(x + y, fail);
      case Tok::Minus: return finite(x - y, fail);
      case Tok::Star: return finite(x * y, fail);
      case Tok::Slash: return finite(x / y, fail);
      case Tok::SlashSlash:
      case Tok::Percent: {
        // CPython's float_divmod.
        double mod = std::fmod(x, y);
        double div = (x - mod) / y;
        if (mod != 0.0) {
          if ((y < 0) != (mod < 0)) {
            mod += y;
            div -= 1.0;
          }
        } else {
          mod = std::copysign(0.0, y);
        }
        double floordiv;
        if (div != 0.0) {
          floordiv = std::floor(div);
          if (div - floordiv > 0.5) floordiv += 1.0;
        } else {
          floordiv = std::copysign(0.0, x / y);
        }
        return finite(op.kind == Tok::Percent ? mod : floordiv, fail);
      }
      default: break;
    }
    throw fail("expr.integer_overflow");  // unreachable: every operator is handled above
  }

  template <typename Fail>
  static Number finite(double value, const Fail& fail) {
    if (!std::isfinite(value)) throw fail("expr.float_overflow");
    return Number::real(value);
  }

  std::string_view text_;
  std::size_t begin_;
  std::size_t end_;
  const std::vector<std::string>& known_;
  std::vector<Token> tokens_;
  const Lookup* lookup_ = nullptr;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------- scalars

// The trimmed scalar when it is a whole `${...}`.
std::optional<std::string_view> expression_text(const std::string& value) {
  std::string_view s(value);
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  if (s.size() >= 3 && s.substr(0, 2) == "${" && s.back() == '}') return s;
  return std::nullopt;
}

std::optional<Number> number_of(const Json& value) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return Number::integer(value.get<long long>());
  if (value.is_number_unsigned()) {
    const auto v = value.get<unsigned long long>();
    if (v > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) return std::nullopt;
    return Number::integer(static_cast<long long>(v));
  }
  if (value.is_number_float()) return Number::real(value.get<double>());
  return std::nullopt;
}

Error unknown_name(const std::string& name, std::string_view expr, const std::vector<std::string>& known) {
  Diagnostic d = make_error("ValidationError", "expr.unknown_name", {{"name", name}, {"expr", std::string(expr)}});
  auto near = nearest_names(name, known);
  if (!near.empty()) d.notes.push_back({"note.did_you_mean", {{"names", join_refs(near)}}});
  return Error(std::move(d));
}

Error not_numeric(const std::string& name, const Json& value, std::string_view expr) {
  return expr_error("expr.not_numeric", {{"name", name}, {"type", type_word(value)}, {"expr", std::string(expr)}});
}

// ---------------------------------------------------------------- documents

class Resolver {
 public:
  Resolver(SpecDocument& doc, std::vector<Diagnostic>& errors) : doc_(doc), errors_(errors) {}

  Json run() {
    Json scope = Json::object();
    if (!doc_.root.is_object()) {
      walk(doc_.root, "");
      return scope;
    }
    if (auto let = doc_.root.find("let"); let != doc_.root.end()) {
      if (let->is_object()) {
        scope = *let;
        evaluate_let(scope);
      } else {
        let_broken_ = true;
        // At the key: an empty `let:` has no value to point at.
        errors_.push_back(make_error("ValidationError", "expr.let_not_mapping", {{"type", type_word(*let)}},
                                     doc_.key_at("let")));
      }
      doc_.root.erase("let");
    }
    walk(doc_.root, "");
    return scope;
  }

 private:
  enum class State { Pending, Active, Done, Failed };

  struct Entry {
    std::string name;
    Json* value = nullptr;  // in the scope (ordered_json looks keys up linearly)
    State state = State::Pending;
    std::optional<std::string_view> expr;  // into the scope's string
    std::unique_ptr<Expression> parsed;
    std::vector<std::string> refs;
  };

  void report(Diagnostic d, const std::string& path) {
    d.where = doc_.at(path);
    errors_.push_back(std::move(d));
  }

  void report(const Error& e, const std::string& path) {
    for (Diagnostic d : e.diagnostics()) report(std::move(d), path);
  }

  Number lookup(const std::string& name, std::string_view expr) {
    if (let_broken_) throw DependencyFailed{};
    auto it = index_.find(name);
    if (it == index_.end()) throw unknown_name(name, expr, names_);
    const Entry& entry = entries_[it->second];
    if (entry.state == State::Failed || entry.state == State::Active || entry.state == State::Pending)
      throw DependencyFailed{};
    const Json& value = *entry.value;
    if (auto n = number_of(value)) return *n;
    throw not_numeric(name, value, expr);
  }

  // Evaluates `text` (a whole `${...}`); reports and returns nothing on failure.
  std::optional<Json> evaluate(Expression& parsed, std::string_view text, const std::string& path) {
    try {
      Expression::Lookup fn = [&](const std::string& name) { return lookup(name, text); };
      return parsed.evaluate(fn).to_json();
    } catch (const Error& e) {
      report(e, path);
    } catch (const DependencyFailed&) {
    }
    return std::nullopt;
  }

  std::unique_ptr<Expression> parse(std::string_view text, const std::string& path) {
    try {
      auto parsed = std::make_unique<Expression>(text, 2, text.size() - 1, names_);
      parsed->check_syntax();
      return parsed;
    } catch (const Error& e) {
      report(e, path);
      return nullptr;
    }
  }

  void evaluate_let(Json& scope) {
    for (auto& [name, value] : scope.items()) names_.push_back(name);
    for (auto& [name, value] : scope.items()) {
      Entry entry;
      entry.name = name;
      entry.value = &value;
      index_[name] = entries_.size();
      if (value.is_string()) entry.expr = expression_text(value.get_ref<const std::string&>());
      entries_.push_back(std::move(entry));
    }
    for (auto& entry : entries_) {
      if (!entry.expr) {
        entry.state = State::Done;  // a number, or a value that is an error only where it is used
        continue;
      }
      entry.parsed = parse(*entry.expr, "let." + entry.name);
      if (!entry.parsed) {
        entry.state = State::Failed;
        continue;
      }
      entry.refs = entry.parsed->references();
    }
    for (std::size_t k = 0; k < entries_.size(); ++k)
      if (entries_[k].state == State::Pending) resolve_from(k);
    // Lists and mappings inside let: their own ${...} strings.
    for (auto& entry : entries_) {
      if (entry.value->is_array() || entry.value->is_object()) walk(*entry.value, "let." + entry.name);
    }
  }

  // Depth-first over the let entries `start` depends on, with an explicit
  // stack (a long chain of entries must not exhaust the call stack).
  void resolve_from(std::size_t start) {
    std::vector<std::pair<std::size_t, std::size_t>> stack;  // entry, next reference to visit
    entries_[start].state = State::Active;
    stack.emplace_back(start, 0);
    while (!stack.empty()) {
      auto& [current, next] = stack.back();
      Entry& entry = entries_[current];
      if (entry.state == State::Active && next < entry.refs.size()) {
        auto it = index_.find(entry.refs[next++]);
        if (it == index_.end()) continue;  // unknown: reported when evaluated
        Entry& dep = entries_[it->second];
        if (dep.state == State::Pending) {
          dep.state = State::Active;
          stack.emplace_back(it->second, 0);
        } else if (dep.state == State::Active) {
          report_cycle(stack, it->second);
        }
        continue;
      }
      if (entry.state == State::Active) {
        std::optional<Json> value = evaluate(*entry.parsed, *entry.expr, "let." + entry.name);
        if (value) {
          *entry.value = std::move(*value);
          entry.state = State::Done;
        } else {
          entry.state = State::Failed;
        }
      }
      stack.pop_back();
    }
  }

  void report_cycle(const std::vector<std::pair<std::size_t, std::size_t>>& stack, std::size_t first) {
    std::string chain;
    bool in_cycle = false;
    for (const auto& [index, next] : stack) {
      if (index == first) in_cycle = true;
      if (!in_cycle) continue;
      chain += "let." + entries_[index].name + " -> ";
      entries_[index].state = State::Failed;  // reported once, here; users of these entries stay quiet
    }
    chain += "let." + entries_[first].name;
    report(make_error("ValidationError", "expr.cycle", {{"chain", chain}}), "let." + entries_[first].name);
  }

  void walk(Json& value, const std::string& path) {
    if (value.is_object()) {
      for (auto& [key, child] : value.items()) walk(child, child_path(path, key));
    } else if (value.is_array()) {
      for (std::size_t k = 0; k < value.size(); ++k) walk(value[k], index_path(path, k));
    } else if (value.is_string()) {
      auto text = expression_text(value.get_ref<const std::string&>());
      if (!text) return;
      const std::string expr(*text);  // `value` is replaced below
      auto parsed = parse(expr, path);
      if (!parsed) return;
      if (auto result = evaluate(*parsed, expr, path)) value = std::move(*result);
    }
  }

  SpecDocument& doc_;
  std::vector<Diagnostic>& errors_;
  bool let_broken_ = false;
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t> index_;
  std::vector<std::string> names_;
};

}  // namespace

Json resolve_expressions(SpecDocument& doc, std::vector<Diagnostic>& errors) {
  return Resolver(doc, errors).run();
}

Json evaluate_expression(std::string_view expression, const Json& scope) {
  std::vector<std::string> names;
  if (scope.is_object())
    for (const auto& [name, value] : scope.items()) names.push_back(name);
  Expression parsed(expression, 0, expression.size(), names);
  parsed.check_syntax();
  Expression::Lookup lookup = [&](const std::string& name) -> Number {
    auto it = scope.is_object() ? scope.find(name) : scope.end();
    if (!scope.is_object() || it == scope.end()) throw unknown_name(name, expression, names);
    if (auto n = number_of(*it)) return *n;
    throw not_numeric(name, *it, expression);
  };
  return parsed.evaluate(lookup).to_json();
}

}  // namespace eulerstack::spec
