#include "data/tokenizer_regex.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include "data/unicode_classes.h"
#include "util/check.h"

namespace hf {

namespace {

constexpr int kUnbounded = std::numeric_limits<int>::max();
// {m,n} is compiled as n copies of its body: a bound on the program's size.
constexpr int kMaxRepeat = 1000;
// Or-ed into a code point, asks CharSet::contains for its rule rather than the ASCII bitmap
// (while the bitmap is built).
constexpr uint32_t kBypassAscii = 0x80000000u;

// The parsed pattern; compiled into the program once, then dropped.
struct Node {
  enum Kind { kSet, kSeq, kAlt, kRepeat, kNotAhead, kEnd } kind;
  explicit Node(Kind k) : kind(k) {}
  int set = 0;              // kSet
  std::vector<Node> kids;   // kSeq, kAlt: the parts; kRepeat, kNotAhead: one body
  int min = 0, max = 0;     // kRepeat
};

bool can_match_empty(const Node& n) {
  switch (n.kind) {
    case Node::kSet: return false;
    case Node::kSeq:
      for (const Node& k : n.kids)
        if (!can_match_empty(k)) return false;
      return true;
    case Node::kAlt:
      for (const Node& k : n.kids)
        if (can_match_empty(k)) return true;
      return false;
    case Node::kRepeat: return n.min == 0 || can_match_empty(n.kids[0]);
    default: return true;  // lookahead and $ consume nothing
  }
}

uint8_t class_bit_of(char letter) {
  switch (letter) {
    case 'L': return kLetterBit;
    case 'M': return kMarkBit;
    case 'N': return kNumberBit;
    case 'P': return kPunctuationBit;
    case 'S': return kSymbolBit;
    case 'Z': return kSeparatorBit;
    case 'C': return kOtherBit;
    default: return 0;
  }
}

// Recursive descent over the pattern's code points.
class Parser {
 public:
  Parser(const std::string& pattern, const std::string& file, std::vector<TokenizerRegex::CharSet>& sets)
      : pattern_(pattern), file_(file), sets_(sets) {
    for (size_t pos = 0, len = 0; pos < pattern.size(); pos += len) cps_.push_back(utf8_next(pattern, pos, &len));
  }

  Node parse() {
    Node n = alternation();
    if (i_ < cps_.size()) refuse("an unmatched )");
    return n;
  }

 private:
  [[noreturn]] void refuse(const std::string& construct) const {
    fail(file_ + ": pre-tokenizer regex " + pattern_ + " uses " + construct + ", which the tokenizer regex engine does not implement",
         "use a tokenizer whose regexes keep to the constructs listed in the user guide (Tokenizers)");
  }
  bool at(uint32_t c) const { return i_ < cps_.size() && cps_[i_] == c; }
  bool at_seq(const char* s) const {
    for (size_t k = 0; s[k]; k++)
      if (i_ + k >= cps_.size() || cps_[i_ + k] != static_cast<uint32_t>(s[k])) return false;
    return true;
  }
  uint32_t next() {
    if (i_ >= cps_.size()) refuse("an unfinished construct at its end");
    return cps_[i_++];
  }

  Node alternation() {
    Node alt(Node::kAlt);
    alt.kids.push_back(sequence());
    while (at('|')) {
      i_++;
      alt.kids.push_back(sequence());
    }
    return alt.kids.size() == 1 ? std::move(alt.kids[0]) : alt;
  }

  Node sequence() {
    Node seq(Node::kSeq);
    while (i_ < cps_.size() && !at('|') && !at(')')) seq.kids.push_back(quantified(atom()));
    return seq;
  }

  // Reads {m}, {m,} or {m,n} at i_ into min/max; false (i_ unmoved) if it is not one.
  bool braces(int* min, int* max) {
    size_t k = i_ + 1;
    auto number = [&](int* out) {
      size_t start = k;
      long v = 0;
      for (; k < cps_.size() && cps_[k] >= '0' && cps_[k] <= '9'; k++) v = std::min(v * 10 + (cps_[k] - '0'), 1000000L);
      *out = static_cast<int>(v);
      return k > start;
    };
    if (!number(min)) return false;
    *max = *min;
    if (k < cps_.size() && cps_[k] == ',') {
      k++;
      if (!number(max)) *max = kUnbounded;
    }
    if (k >= cps_.size() || cps_[k] != '}') return false;
    if (*max < *min) refuse("a repeat {m,n} with n < m");
    if (*min > kMaxRepeat || (*max != kUnbounded && *max > kMaxRepeat)) refuse("a repeat count above 1000");
    i_ = k + 1;
    return true;
  }

  Node quantified(Node body) {
    for (;;) {
      int min, max;
      if (at('*')) min = 0, max = kUnbounded, i_++;
      else if (at('+')) min = 1, max = kUnbounded, i_++;
      else if (at('?')) min = 0, max = 1, i_++;
      else if (!(at('{') && braces(&min, &max))) return body;
      if (at('?')) refuse("a lazy quantifier");
      if (at('+')) refuse("a possessive quantifier");
      if (body.kind == Node::kNotAhead || body.kind == Node::kEnd) refuse("a quantified lookahead or $");
      if (max == kUnbounded && can_match_empty(body)) refuse("an unbounded repeat of something that can match nothing");
      Node rep(Node::kRepeat);
      rep.min = min;
      rep.max = max;
      rep.kids.push_back(std::move(body));
      body = std::move(rep);
    }
  }

  Node set_node(TokenizerRegex::CharSet set) {
    Node n(Node::kSet);
    n.set = static_cast<int>(sets_.size());
    sets_.push_back(std::move(set));
    return n;
  }

  Node atom() {
    uint32_t c = next();
    if (c == '(') {
      Node body(Node::kSeq);
      bool was_folding = fold_;
      if (at_seq("?:")) {
        i_ += 2;
      } else if (at_seq("?i:")) {
        i_ += 3;
        fold_ = true;
      } else if (at_seq("?!")) {
        i_ += 2;
        Node ahead(Node::kNotAhead);
        ahead.kids.push_back(alternation());
        if (!at(')')) refuse("an unclosed (?!");
        i_++;
        return ahead;
      } else if (at('?')) {
        refuse("a group (?" + std::string(1, static_cast<char>(i_ + 1 < cps_.size() ? cps_[i_ + 1] : ' ')) +
               " (only (?:, (?i: and (?! are read)");
      }
      body = alternation();
      fold_ = was_folding;
      if (!at(')')) refuse("an unclosed (");
      i_++;
      return body;
    }
    if (c == '[') return set_node(bracket());
    if (c == '.') {
      TokenizerRegex::CharSet any;
      any.negated = true;
      any.ranges.push_back({'\n', '\n'});
      return set_node(finish(std::move(any)));
    }
    if (c == '$') return Node(Node::kEnd);
    if (c == '^') refuse("^");
    if (c == '*' || c == '+' || c == '?') refuse("a quantifier with nothing to repeat");
    TokenizerRegex::CharSet one;
    if (c == '\\') {
      escape(one, false);
    } else {
      one.ranges.push_back({c, c});
    }
    return set_node(finish(std::move(one)));
  }

  // The escape after a backslash, added to `set`; inside a class when `in_class`.
  // Returns the code point it stands for, or -1 for a class escape (\s, \p{..}).
  long escape(TokenizerRegex::CharSet& set, bool in_class) {
    uint32_t c = next();
    auto literal = [&](uint32_t cp) {
      set.ranges.push_back({cp, cp});
      return static_cast<long>(cp);
    };
    switch (c) {
      case 'r': return literal('\r');
      case 'n': return literal('\n');
      case 't': return literal('\t');
      case 'f': return literal('\f');
      case 'v': return literal('\v');
      case 'u': return literal(hex(4));
      case 'x': return literal(hex(2));
      case 's': set.with |= kWhitespaceBit; return -1;
      case 'S': set.without.push_back(kWhitespaceBit); return -1;
      case 'p':
      case 'P': {
        if (!at('{')) refuse(std::string("\\") + static_cast<char>(c) + " without {X}");
        i_++;
        uint32_t letter = next();
        uint8_t bit = letter < 128 ? class_bit_of(static_cast<char>(letter)) : 0;
        if (!bit || !at('}')) refuse(std::string("\\") + static_cast<char>(c) + "{ other than L, M, N, P, S, Z or C");
        i_++;
        if (c == 'p') set.with |= bit;
        else set.without.push_back(bit);
        return -1;
      }
      default:
        if (c < 128 && !std::isalnum(static_cast<int>(c))) return literal(c);
        refuse(std::string("\\") + static_cast<char>(c < 128 ? c : '?') + (in_class ? " inside a class" : ""));
    }
  }

  uint32_t hex(int digits) {
    uint32_t v = 0;
    for (int k = 0; k < digits; k++) {
      uint32_t d = next();
      int x = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10 : d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
      if (x < 0) refuse("a \\u or \\x escape without its hex digits");
      v = v * 16 + x;
    }
    return v;
  }

  // [...] after its '[': items (a code point, a range a-b, an escape) until ']'.
  TokenizerRegex::CharSet bracket() {
    TokenizerRegex::CharSet set;
    if (at('^')) {
      set.negated = true;
      i_++;
    }
    for (bool first = true;; first = false) {
      uint32_t c = next();
      if (c == ']' && !first) break;
      if (c == '[') refuse("a nested class [");
      if (c == '&' && at('&')) refuse("class intersection &&");
      long lo = c == '\\' ? escape(set, true) : static_cast<long>(c);
      if (c != '\\') set.ranges.push_back({c, c});
      if (lo >= 0 && at('-') && i_ + 1 < cps_.size() && cps_[i_ + 1] != ']') {
        i_++;
        uint32_t d = next();
        TokenizerRegex::CharSet end_of_range;
        long hi = d == '\\' ? escape(end_of_range, true) : static_cast<long>(d);
        if (hi < lo) refuse("a class range that ends before it starts or at a class escape");
        set.ranges.back().second = static_cast<uint32_t>(hi);
      }
    }
    return finish(std::move(set));
  }

  // Folds ASCII case under (?i:, then fills the ASCII bitmap.
  TokenizerRegex::CharSet finish(TokenizerRegex::CharSet set) {
    if (fold_) {
      size_t n = set.ranges.size();
      for (size_t k = 0; k < n; k++)
        for (uint32_t c = set.ranges[k].first; c <= set.ranges[k].second && c < 128; c++) {
          if (c >= 'a' && c <= 'z') set.ranges.push_back({c - 32, c - 32});
          if (c >= 'A' && c <= 'Z') set.ranges.push_back({c + 32, c + 32});
        }
    }
    for (uint32_t c = 0; c < 128; c++)
      if (set.contains(c | kBypassAscii, unicode_classes(c))) set.ascii[c / 64] |= uint64_t{1} << (c % 64);
    return set;
  }

  const std::string& pattern_;
  const std::string& file_;
  std::vector<TokenizerRegex::CharSet>& sets_;
  std::vector<uint32_t> cps_;
  size_t i_ = 0;
  bool fold_ = false;
};

using Program = std::vector<TokenizerRegex::Inst>;

int emit(Program& p, TokenizerRegex::Inst::Op op, int x = 0, int y = 0) {
  p.push_back({op, x, y});
  return static_cast<int>(p.size()) - 1;
}

void compile(const Node& n, Program& p) {
  using I = TokenizerRegex::Inst;
  switch (n.kind) {
    case Node::kSet: emit(p, I::kSet, n.set); break;
    case Node::kEnd: emit(p, I::kEnd); break;
    case Node::kSeq:
      for (const Node& k : n.kids) compile(k, p);
      break;
    case Node::kAlt: {
      // split(a, next); a; jump end; next: split(b, ...) ...; the last part without a split
      std::vector<int> jumps;
      for (size_t k = 0; k < n.kids.size(); k++) {
        int split = k + 1 < n.kids.size() ? emit(p, I::kSplit) : -1;
        if (split >= 0) p[split].x = split + 1;
        compile(n.kids[k], p);
        if (split >= 0) {
          jumps.push_back(emit(p, I::kJump));
          p[split].y = static_cast<int>(p.size());
        }
      }
      for (int j : jumps) p[j].x = static_cast<int>(p.size());
      break;
    }
    case Node::kRepeat: {
      for (int k = 0; k < n.min; k++) compile(n.kids[0], p);
      if (n.max == kUnbounded && n.kids[0].kind == Node::kSet) {
        emit(p, I::kRunSet, n.kids[0].set);
      } else if (n.max == kUnbounded) {
        int loop = emit(p, I::kSplit, 0, 0);
        p[loop].x = loop + 1;
        compile(n.kids[0], p);
        emit(p, I::kJump, loop);
        p[loop].y = static_cast<int>(p.size());
      } else {
        std::vector<int> splits;
        for (int k = n.min; k < n.max; k++) {
          splits.push_back(emit(p, I::kSplit));
          p[splits.back()].x = splits.back() + 1;
          compile(n.kids[0], p);
        }
        for (int s : splits) p[s].y = static_cast<int>(p.size());
      }
      break;
    }
    case Node::kNotAhead: {
      int ahead = emit(p, I::kNotAhead);
      p[ahead].x = ahead + 1;
      compile(n.kids[0], p);
      emit(p, I::kMatch);
      p[ahead].y = static_cast<int>(p.size());
      break;
    }
  }
}

// The text as code points, each with its byte offset and Unicode classes.
struct CodePoints {
  std::vector<uint32_t> cp;
  std::vector<uint8_t> classes;
  std::vector<size_t> offset;  // (n + 1): offset[n] is the text's size

  explicit CodePoints(std::string_view text) {
    for (size_t pos = 0, len = 0; pos < text.size(); pos += len) {
      uint32_t c = utf8_next(text, pos, &len);
      cp.push_back(c);
      classes.push_back(unicode_classes(c));
      offset.push_back(pos);
    }
    offset.push_back(text.size());
  }
};

}  // namespace

bool TokenizerRegex::CharSet::contains(uint32_t cp, uint8_t classes) const {
  if (cp < 128) return (ascii[cp / 64] >> (cp % 64)) & 1;
  cp &= ~kBypassAscii;
  bool in = (classes & with) != 0;
  for (uint8_t bit : without) in = in || (classes & bit) == 0;
  for (size_t k = 0; !in && k < ranges.size(); k++) in = cp >= ranges[k].first && cp <= ranges[k].second;
  return in != negated;
}

TokenizerRegex::TokenizerRegex(const std::string& pattern, const std::string& file, SplitKeep keep) : keep_(keep) {
  Node root = Parser(pattern, file, sets_).parse();
  compile(root, program_);
  emit(program_, Inst::kMatch);
}

long TokenizerRegex::match_at(const std::vector<uint32_t>& cps, const std::vector<uint8_t>& classes, size_t at,
                              int start_pc, std::vector<Backtrack>& stack) const {
  size_t base = stack.size();  // a lookahead runs on top of its caller's backtrack entries
  stack.push_back({start_pc, at, Backtrack::kOnce});
  while (stack.size() > base) {
    Backtrack b = stack.back();
    stack.pop_back();
    if (b.floor != Backtrack::kOnce && b.pos > b.floor) stack.push_back({b.pc, b.pos - 1, b.floor});
    int pc = b.pc;
    size_t pos = b.pos;
    for (;;) {
      const Inst& in = program_[pc];
      if (in.op == Inst::kSet) {
        if (pos >= cps.size() || !sets_[in.x].contains(cps[pos], classes[pos])) break;
        pos++;
        pc++;
      } else if (in.op == Inst::kSplit) {
        // A preferred branch that opens with a set the next code point is not in fails at
        // once: go straight to the other, with nothing to backtrack to.
        const Inst& first = program_[in.x];
        if (first.op == Inst::kSet && (pos >= cps.size() || !sets_[first.x].contains(cps[pos], classes[pos]))) {
          pc = in.y;
          continue;
        }
        stack.push_back({in.y, pos, Backtrack::kOnce});
        pc = in.x;
      } else if (in.op == Inst::kRunSet) {
        size_t from = pos;
        while (pos < cps.size() && sets_[in.x].contains(cps[pos], classes[pos])) pos++;
        if (pos > from) stack.push_back({pc + 1, pos - 1, from});
        pc++;
      } else if (in.op == Inst::kJump) {
        pc = in.x;
      } else if (in.op == Inst::kNotAhead) {
        if (match_at(cps, classes, pos, in.x, stack) >= 0) break;
        pc = in.y;
      } else if (in.op == Inst::kEnd) {
        if (pos != cps.size()) break;
        pc++;
      } else {
        stack.resize(base);
        return static_cast<long>(pos);
      }
    }
  }
  return -1;
}

std::vector<std::pair<size_t, size_t>> TokenizerRegex::matches(std::string_view text) const {
  CodePoints t(text);
  std::vector<std::pair<size_t, size_t>> found;
  std::vector<Backtrack> stack;
  for (size_t i = 0; i <= t.cp.size();) {
    long end = match_at(t.cp, t.classes, i, 0, stack);
    if (end < 0) {
      i++;
      continue;
    }
    found.push_back({t.offset[i], t.offset[end]});
    i = static_cast<size_t>(end) > i ? static_cast<size_t>(end) : i + 1;
  }
  return found;
}

std::vector<std::string_view> TokenizerRegex::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  size_t done = 0;  // bytes of `text` already in pieces
  bool stretches = keep_ != SplitKeep::kMatches, matched = keep_ != SplitKeep::kStretches;
  for (auto [begin, end] : matches(text)) {
    if (stretches && begin > done) pieces.push_back(text.substr(done, begin - done));
    if (matched && end > begin) pieces.push_back(text.substr(begin, end - begin));
    done = end;
  }
  if (stretches && done < text.size()) pieces.push_back(text.substr(done));
  return pieces;
}

std::vector<std::string_view> split_in_turn(std::string_view text, const std::vector<TokenizerRegex>& regexes) {
  std::vector<std::string_view> pieces;
  if (!text.empty()) pieces.push_back(text);
  for (const TokenizerRegex& regex : regexes) {
    std::vector<std::string_view> finer;
    for (std::string_view p : pieces)
      for (std::string_view q : regex.split(p)) finer.push_back(q);
    pieces.swap(finer);
  }
  return pieces;
}

}  // namespace hf
