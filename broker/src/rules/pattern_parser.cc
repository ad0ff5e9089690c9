// Parsing and validating event patterns (docs/patterns.md, "The language" and "Invalid
// patterns"). The JSON is parsed once with nlohmann (duplicate keys are caught while
// parsing, since the DOM keeps only the last), then walked with a path for the messages.
#include <arpa/inet.h>
#include <utf8proc.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "causeway/common/utf8.h"
#include "rules/pattern.h"

namespace causeway::rules {
namespace {

// Where and why `text` fails to parse as JSON (" at column 7: syntax error ...", counted in
// bytes as the publish command counts them), or "" if the parser gives no position. Only on
// the error path, so the second parse costs nothing on good patterns.
std::string json_error_position(std::string_view text) {
  try {
    [[maybe_unused]] const auto parsed = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.what(): "[json.exception.parse_error.101] parse error at line 1, column 2: syntax
    // error while parsing ..."; keep what follows the position, said once.
    std::string why = e.what();
    if (const auto at = why.find("column "); at != std::string::npos) {
      if (const auto colon = why.find(": ", at); colon != std::string::npos) why = why.substr(colon + 2);
    }
    return " at column " + std::to_string(e.byte) + ": " + why;
  } catch (const nlohmann::json::exception&) {
  }
  return "";
}

using nlohmann::json;

class Parser {
 public:
  Result<Pattern> run(std::string_view text) {
    if (text.size() > kMaxPatternBytes) {
      return invalid_argument("pattern is " + std::to_string(text.size()) + " bytes; the limit is " +
                              std::to_string(kMaxPatternBytes));
    }
    json doc;
    std::string duplicate;
    {
      // One set of keys per open object; a key seen twice in one object is an error
      // (EventBridge: "Path cannot be allowed multiple times").
      std::vector<std::vector<std::string>> open;
      std::vector<std::string> keys;  // the key being parsed at each level, for the path
      size_t depth_exceeded = 0;
      json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
        if (static_cast<size_t>(depth) > kMaxPatternDepth * 2 + 8) ++depth_exceeded;
        switch (event) {
          case json::parse_event_t::object_start:
            open.emplace_back();
            break;
          case json::parse_event_t::object_end:
            if (!open.empty()) open.pop_back();
            break;
          case json::parse_event_t::key: {
            const std::string& k = parsed.get_ref<const std::string&>();
            if (!open.empty()) {
              auto& seen = open.back();
              for (const auto& s : seen)
                if (s == k && duplicate.empty()) duplicate = k;
              seen.push_back(k);
            }
            break;
          }
          default:
            break;
        }
        return true;
      };
      doc = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
      if (depth_exceeded > 0) return invalid_argument("pattern nests deeper than " + std::to_string(kMaxPatternDepth) + " levels");
    }
    if (doc.is_discarded()) return invalid_argument("pattern is not valid JSON" + json_error_position(text));
    if (!duplicate.empty()) return invalid_argument("key \"" + duplicate + "\" appears more than once in one object");
    if (!doc.is_object()) return invalid_argument("pattern must be a JSON object, not " + std::string(doc.type_name()));
    Pattern p;
    p.text = std::string(text);
    CAUSEWAY_RETURN_IF_ERROR(parse_node(doc, "", 0, p.root));
    return p;
  }

 private:
  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string at(const std::string& path) { return path.empty() ? "(top level)" : path; }

  Status error(const std::string& path, const std::string& msg) const {
    return invalid_argument(at(path) + ": " + msg);
  }

  Status count_value(const std::string& path) {
    if (++values_ > kMaxValuesPerPattern)
      return error(path, "pattern holds more than " + std::to_string(kMaxValuesPerPattern) + " values");
    return Status();
  }

  Status parse_node(const json& obj, const std::string& path, size_t depth, PatternNode& out) {
    if (depth > kMaxPatternDepth) return error(path, "pattern nests deeper than " + std::to_string(kMaxPatternDepth) + " levels");
    if (obj.empty()) return error(path, "empty objects are not allowed");
    for (const auto& [key, value] : obj.items()) {
      if (!utf8::is_valid(key)) return error(path, "a key is not valid UTF-8");
      const std::string here = join(path, key);
      if (key == "$or") {
        if (!value.is_array()) return error(here, "\"$or\" must be an array of at least two pattern objects");
        if (value.size() < 2) return error(here, "\"$or\" needs at least two pattern objects, got " + std::to_string(value.size()));
        std::vector<PatternNode> alternatives(value.size());
        for (size_t i = 0; i < value.size(); ++i) {
          const std::string alt = here + "[" + std::to_string(i) + "]";
          if (!value[i].is_object()) return error(alt, "each \"$or\" alternative must be a pattern object");
          CAUSEWAY_RETURN_IF_ERROR(parse_node(value[i], alt, depth + 1, alternatives[i]));
        }
        out.ors.push_back(std::move(alternatives));
        continue;
      }
      FieldPattern field;
      field.name = key;
      if (value.is_object()) {
        field.nested = std::make_unique<PatternNode>();
        CAUSEWAY_RETURN_IF_ERROR(parse_node(value, here, depth + 1, *field.nested));
      } else if (value.is_array()) {
        if (value.empty()) return error(here, "empty arrays are not allowed");
        for (size_t i = 0; i < value.size(); ++i) {
          Condition c;
          CAUSEWAY_RETURN_IF_ERROR(parse_condition(value[i], here + "[" + std::to_string(i) + "]", c, false));
          field.conditions.push_back(std::move(c));
        }
      } else {
        return error(here, "a value must be an array of conditions or an object, not a bare " +
                               std::string(value.type_name()) + " (write [" + value.dump(-1, ' ', false, json::error_handler_t::replace) + "])");
      }
      out.fields.push_back(std::move(field));
    }
    return Status();
  }

  static Result<std::string> string_operand(const json& v, const std::string& path, const char* op) {
    if (!v.is_string()) return invalid_argument(at(path) + ": \"" + op + "\" needs a string, not " + std::string(v.type_name()));
    const std::string& s = v.get_ref<const std::string&>();
    if (!utf8::is_valid(s)) return invalid_argument(at(path) + ": \"" + op + "\" operand is not valid UTF-8");
    return s;
  }

  Result<std::string> folded_operand(const json& v, const std::string& path, const char* op) {
    CAUSEWAY_ASSIGN_OR_RETURN(std::string s, string_operand(v, path, op));
    auto f = fold_case(s);
    if (!f) return invalid_argument(at(path) + ": \"" + op + "\" operand is not valid UTF-8");
    return *f;
  }

  Result<Wildcard> wildcard(const std::string& text, const std::string& path) {
    Wildcard w;
    w.pieces.emplace_back();
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '\\') {
        if (i + 1 < text.size() && (text[i + 1] == '*' || text[i + 1] == '\\')) {
          w.pieces.back() += text[++i];
          continue;
        }
        return invalid_argument(at(path) + ": invalid escape at position " + std::to_string(i) +
                                " of wildcard \"" + text + "\" (only \\* and \\\\ are escapes)");
      }
      if (c == '*') {
        if (i + 1 < text.size() && text[i + 1] == '*') {
          return invalid_argument(at(path) + ": consecutive wildcard characters at position " + std::to_string(i) +
                                  " of \"" + text + "\"");
        }
        w.pieces.emplace_back();
        if ((wildcard_complexity_ += 1) > kMaxWildcardComplexity) {
          return invalid_argument(at(path) + ": the pattern's wildcards are too complex (more than " +
                                  std::to_string(kMaxWildcardComplexity) + " '*' in all)");
        }
        continue;
      }
      w.pieces.back() += c;
    }
    return w;
  }

  // The object form of a condition: exactly one operator key.
  Status parse_condition(const json& v, const std::string& path, Condition& c, bool in_and) {
    CAUSEWAY_RETURN_IF_ERROR(count_value(path));
    if (v.is_string()) {
      if (!utf8::is_valid(v.get_ref<const std::string&>())) return error(path, "string is not valid UTF-8");
      c.kind = Condition::Kind::kString;
      c.text = v.get<std::string>();
      return Status();
    }
    if (v.is_number()) {
      c.kind = Condition::Kind::kNumber;
      c.number = v.get<double>();
      return Status();
    }
    if (v.is_boolean()) {
      c.kind = Condition::Kind::kBool;
      c.flag = v.get<bool>();
      return Status();
    }
    if (v.is_null()) {
      c.kind = Condition::Kind::kNull;
      return Status();
    }
    if (v.is_array()) return error(path, "a condition cannot be an array (arrays only hold conditions)");
    if (v.empty()) return error(path, "empty objects are not allowed");
    if (v.size() != 1) return error(path, "a condition object has exactly one operator, found " + std::to_string(v.size()));
    const auto only = v.begin();  // (json iterators carry the key; items() proxies are temporaries)
    const std::string& op = only.key();
    const json& arg = only.value();
    const std::string here = path + "." + op;
    if (op == "prefix" || op == "suffix") {
      const bool prefix = op == "prefix";
      if (arg.is_object()) {
        if (arg.size() != 1 || !arg.contains("equals-ignore-case"))
          return error(here, "the only operator allowed inside \"" + op + "\" is \"equals-ignore-case\"");
        c.kind = prefix ? Condition::Kind::kPrefixIgnoreCase : Condition::Kind::kSuffixIgnoreCase;
        CAUSEWAY_ASSIGN_OR_RETURN(c.text, folded_operand(arg["equals-ignore-case"], here + ".equals-ignore-case",
                                                         "equals-ignore-case"));
        return Status();
      }
      c.kind = prefix ? Condition::Kind::kPrefix : Condition::Kind::kSuffix;
      CAUSEWAY_ASSIGN_OR_RETURN(c.text, string_operand(arg, here, op.c_str()));
      return Status();
    }
    if (op == "equals-ignore-case") {
      c.kind = Condition::Kind::kEqualsIgnoreCase;
      CAUSEWAY_ASSIGN_OR_RETURN(c.text, folded_operand(arg, here, "equals-ignore-case"));
      return Status();
    }
    if (op == "wildcard") {
      c.kind = Condition::Kind::kWildcard;
      CAUSEWAY_ASSIGN_OR_RETURN(const std::string text, string_operand(arg, here, "wildcard"));
      CAUSEWAY_ASSIGN_OR_RETURN(c.wildcard, wildcard(text, here));
      return Status();
    }
    if (op == "anything-but") return parse_anything_but(arg, here, c);
    if (op == "numeric") return parse_numeric(arg, here, c);
    if (op == "exists") {
      if (in_and) return error(here, "\"exists\" cannot be inside \"$and\" (it is about the field, not a value)");
      if (!arg.is_boolean()) return error(here, "\"exists\" must be true or false");
      c.kind = Condition::Kind::kExists;
      c.flag = arg.get<bool>();
      return Status();
    }
    if (op == "cidr") {
      CAUSEWAY_ASSIGN_OR_RETURN(const std::string text, string_operand(arg, here, "cidr"));
      auto parsed = parse_cidr(text);
      if (!parsed) return error(here, "\"" + text + "\" is not an IPv4 or IPv6 network (e.g. 10.0.0.0/24, 2001:db8::/32)");
      c.kind = Condition::Kind::kCidr;
      c.cidr = *parsed;
      return Status();
    }
    if (op == "$and") {
      if (!arg.is_array() || arg.size() < 2) return error(here, "\"$and\" must be an array of at least two conditions");
      c.kind = Condition::Kind::kAnd;
      for (size_t i = 0; i < arg.size(); ++i) {
        const std::string sub = here + "[" + std::to_string(i) + "]";
        Condition part;
        CAUSEWAY_RETURN_IF_ERROR(parse_condition(arg[i], sub, part, true));
        c.all.push_back(std::move(part));
      }
      return Status();
    }
    return error(path, "unknown operator \"" + op +
                           "\" (expected prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, "
                           "cidr, or our $and)");
  }

  Status parse_anything_but(const json& arg, const std::string& path, Condition& c) {
    c.kind = Condition::Kind::kAnythingBut;
    AnythingBut& ab = c.anything_but;
    if (arg.is_object()) {
      if (arg.size() != 1) return error(path, "\"anything-but\" takes one of prefix, suffix, equals-ignore-case, wildcard");
      const auto only = arg.begin();
      const std::string& op = only.key();
      const json& operand = only.value();
      const std::string here = path + "." + op;
      if (op == "prefix") ab.kind = AnythingBut::Kind::kPrefix;
      else if (op == "suffix") ab.kind = AnythingBut::Kind::kSuffix;
      else if (op == "equals-ignore-case") ab.kind = AnythingBut::Kind::kEqualsIgnoreCase;
      else if (op == "wildcard") ab.kind = AnythingBut::Kind::kWildcard;
      else return error(here, "unsupported anything-but operator \"" + op + "\" (prefix, suffix, equals-ignore-case or wildcard)");
      std::vector<const json*> items;
      if (operand.is_array()) {
        if (operand.empty()) return error(here, "empty arrays are not allowed");
        for (const auto& e : operand) items.push_back(&e);
      } else {
        items.push_back(&operand);
      }
      for (size_t i = 0; i < items.size(); ++i) {
        const std::string item_path = operand.is_array() ? here + "[" + std::to_string(i) + "]" : here;
        CAUSEWAY_RETURN_IF_ERROR(count_value(item_path));
        if (!items[i]->is_string()) return error(item_path, "anything-but " + op + " takes strings, not " + std::string(items[i]->type_name()));
        if (ab.kind == AnythingBut::Kind::kEqualsIgnoreCase) {
          CAUSEWAY_ASSIGN_OR_RETURN(std::string f, folded_operand(*items[i], item_path, "equals-ignore-case"));
          ab.strings.push_back(std::move(f));
        } else if (ab.kind == AnythingBut::Kind::kWildcard) {
          CAUSEWAY_ASSIGN_OR_RETURN(const std::string text, string_operand(*items[i], item_path, "wildcard"));
          CAUSEWAY_ASSIGN_OR_RETURN(Wildcard w, wildcard(text, item_path));
          ab.wildcards.push_back(std::move(w));
        } else {
          CAUSEWAY_ASSIGN_OR_RETURN(std::string s, string_operand(*items[i], item_path, op.c_str()));
          if (s.empty()) return error(item_path, "an empty anything-but " + op + " would exclude every string");
          ab.strings.push_back(std::move(s));
        }
      }
      return Status();
    }
    std::vector<const json*> items;
    if (arg.is_array()) {
      if (arg.empty()) return error(path, "empty arrays are not allowed");
      for (const auto& e : arg) items.push_back(&e);
    } else {
      items.push_back(&arg);
    }
    bool strings = false;
    bool numbers = false;
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string item_path = arg.is_array() ? path + "[" + std::to_string(i) + "]" : path;
      CAUSEWAY_RETURN_IF_ERROR(count_value(item_path));
      const json& e = *items[i];
      if (e.is_string()) {
        if (!utf8::is_valid(e.get_ref<const std::string&>())) return error(item_path, "string is not valid UTF-8");
        strings = true;
        ab.strings.push_back(e.get<std::string>());
      } else if (e.is_number()) {
        numbers = true;
        ab.numbers.push_back(e.get<double>());
      } else {
        return error(item_path, "anything-but takes strings or numbers, not " + std::string(e.type_name()));
      }
    }
    if (strings && numbers) return error(path, "an anything-but list must hold only strings or only numbers, not both");
    ab.kind = numbers ? AnythingBut::Kind::kNumbers : AnythingBut::Kind::kStrings;
    return Status();
  }

  Status parse_numeric(const json& arg, const std::string& path, Condition& c) {
    if (!arg.is_array() || arg.empty()) return error(path, "\"numeric\" must be a non-empty array like [\">\", 0, \"<=\", 5]");
    if (arg.size() != 2 && arg.size() != 4)
      return error(path, "\"numeric\" takes one comparison or two (a lower and an upper bound), got " + std::to_string(arg.size()) + " elements");
    c.kind = Condition::Kind::kNumeric;
    NumericRange& r = c.range;
    for (size_t i = 0; i < arg.size(); i += 2) {
      const std::string op_path = path + "[" + std::to_string(i) + "]";
      if (!arg[i].is_string()) return error(op_path, "expected an operator (=, <, <=, >, >=)");
      const std::string op = arg[i].get<std::string>();
      const json& n = arg[i + 1];
      if (!n.is_number()) return error(path + "[" + std::to_string(i + 1) + "]", "the value of \"" + op + "\" must be a number");
      const double x = n.get<double>();
      if (!std::isfinite(x)) return error(path + "[" + std::to_string(i + 1) + "]", "the value must be finite");
      if (op == "=") {
        if (arg.size() != 2) return error(op_path, "\"=\" cannot be combined with another comparison");
        r.lower = r.upper = x;
        r.lower_inclusive = r.upper_inclusive = true;
      } else if (op == ">" || op == ">=") {
        if (i != 0) return error(op_path, "a lower bound (" + op + ") must come first");
        r.lower = x;
        r.lower_inclusive = op == ">=";
      } else if (op == "<" || op == "<=") {
        if (r.upper) return error(op_path, "two upper bounds");
        r.upper = x;
        r.upper_inclusive = op == "<=";
      } else {
        return error(op_path, "unknown numeric operator \"" + op + "\" (=, <, <=, >, >=)");
      }
    }
    if (arg.size() == 4 && !(r.lower && r.upper)) return error(path, "two comparisons must be a lower bound then an upper bound");
    if (r.lower && r.upper && (*r.lower > *r.upper || (*r.lower == *r.upper && !(r.lower_inclusive && r.upper_inclusive)))) {
      return error(path, "the range is empty: lower bound above the upper bound");
    }
    return Status();
  }

  static std::optional<Cidr> parse_cidr(const std::string& text) {
    const auto slash = text.find('/');
    const std::string address = text.substr(0, slash);
    Cidr c;
    uint8_t bytes[16];
    int max_bits = 0;
    if (::inet_pton(AF_INET, address.c_str(), bytes) == 1) {
      c.v6 = false;
      std::memcpy(c.network.data() + 12, bytes, 4);
      max_bits = 32;
    } else if (::inet_pton(AF_INET6, address.c_str(), bytes) == 1) {
      c.v6 = true;
      std::memcpy(c.network.data(), bytes, 16);
      max_bits = 128;
    } else {
      return std::nullopt;
    }
    int bits = max_bits;
    if (slash != std::string::npos) {
      const std::string b = text.substr(slash + 1);
      if (b.empty() || b.size() > 3 || b.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
      bits = std::atoi(b.c_str());
      if (bits > max_bits) return std::nullopt;
    }
    c.prefix_bits = static_cast<uint8_t>(bits);
    // Zero the host bits so that membership is a masked compare.
    const int first = c.v6 ? 0 : 12;
    for (int i = 0; i < (c.v6 ? 16 : 4); ++i) {
      const int bit_base = i * 8;
      uint8_t& byte = c.network[static_cast<size_t>(first + i)];
      if (bits <= bit_base) byte = 0;
      else if (bits < bit_base + 8) byte = static_cast<uint8_t>(byte & (0xFF << (8 - (bits - bit_base))));
    }
    return c;
  }

  size_t values_ = 0;
  size_t wildcard_complexity_ = 0;
};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool string_condition(const Condition& c, std::string_view s, const std::optional<std::string>& folded) {
  switch (c.kind) {
    case Condition::Kind::kString: return s == c.text;
    case Condition::Kind::kPrefix: return s.substr(0, c.text.size()) == c.text;
    case Condition::Kind::kSuffix: return ends_with(s, c.text);
    case Condition::Kind::kEqualsIgnoreCase: return folded && *folded == c.text;
    case Condition::Kind::kPrefixIgnoreCase: return folded && std::string_view(*folded).substr(0, c.text.size()) == c.text;
    case Condition::Kind::kSuffixIgnoreCase: return folded && ends_with(*folded, c.text);
    case Condition::Kind::kWildcard: return c.wildcard.matches(s);
    case Condition::Kind::kCidr: return c.cidr.contains(s);
    default: return false;
  }
}

bool anything_but_matches(const AnythingBut& ab, const ScalarValue& v) {
  if (ab.kind == AnythingBut::Kind::kNumbers) {
    if (v.type != ScalarValue::Type::kNumber) return false;
    for (double n : ab.numbers)
      if (n == v.number) return false;
    return true;
  }
  if (v.type != ScalarValue::Type::kString) return false;
  switch (ab.kind) {
    case AnythingBut::Kind::kStrings:
      for (const auto& s : ab.strings)
        if (s == v.text) return false;
      return true;
    case AnythingBut::Kind::kPrefix:
      for (const auto& s : ab.strings)
        if (v.text.substr(0, s.size()) == s) return false;
      return true;
    case AnythingBut::Kind::kSuffix:
      for (const auto& s : ab.strings)
        if (ends_with(v.text, s)) return false;
      return true;
    case AnythingBut::Kind::kEqualsIgnoreCase: {
      const auto folded = fold_case(v.text);
      if (!folded) return false;
      for (const auto& s : ab.strings)
        if (s == *folded) return false;
      return true;
    }
    case AnythingBut::Kind::kWildcard:
      for (const auto& w : ab.wildcards)
        if (w.matches(v.text)) return false;
      return true;
    case AnythingBut::Kind::kNumbers:
      return false;
  }
  return false;
}

}  // namespace

Result<Pattern> parse_pattern(std::string_view json) { return Parser().run(json); }

std::optional<std::string> fold_case(std::string_view text) {
  if (!utf8::is_valid(text)) return std::nullopt;
  bool ascii = true;
  for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  std::string out(text);
  if (ascii) {
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  }
  out.clear();
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = 0;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + i),
                                    static_cast<utf8proc_ssize_t>(text.size() - i), &cp);
    if (n <= 0) return std::nullopt;
    i += static_cast<size_t>(n);
    // One code point to one code point, as Java's equalsIgnoreCase (which EventBridge's
    // matcher uses) compares: lower(upper(c)) also equates final sigma with sigma. ß stays
    // ß rather than becoming "ss".
    const utf8proc_int32_t folded = utf8proc_tolower(utf8proc_toupper(cp));
    utf8proc_uint8_t buf[4];
    const auto len = utf8proc_encode_char(folded, buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
  }
  return out;
}

bool Cidr::contains(std::string_view address) const {
  if (address.size() > 64) return false;
  const std::string text(address);
  uint8_t bytes[16];
  std::array<uint8_t, 16> a{};
  if (!v6) {
    if (::inet_pton(AF_INET, text.c_str(), bytes) != 1) return false;
    std::memcpy(a.data() + 12, bytes, 4);
  } else {
    if (::inet_pton(AF_INET6, text.c_str(), bytes) != 1) return false;
    std::memcpy(a.data(), bytes, 16);
  }
  const size_t first = v6 ? 0 : 12;
  int bits = prefix_bits;
  for (size_t i = first; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xFF : static_cast<uint8_t>(0xFF << (8 - bits));
    if ((a[i] & mask) != network[i]) return false;
  }
  return true;
}

bool Wildcard::matches(std::string_view value) const {
  if (pieces.size() == 1) return value == pieces[0];
  const std::string& first = pieces.front();
  const std::string& last = pieces.back();
  if (value.size() < first.size() + last.size()) return false;
  if (value.substr(0, first.size()) != first) return false;
  if (!ends_with(value, last)) return false;
  // With '*' as the only metacharacter, taking each middle piece at its leftmost place
  // is optimal: it leaves the most room for the pieces after it.
  size_t pos = first.size();
  const size_t end = value.size() - last.size();
  for (size_t i = 1; i + 1 < pieces.size(); ++i) {
    const std::string& piece = pieces[i];
    if (piece.empty()) continue;
    const size_t found = value.substr(0, end).find(piece, pos);
    if (found == std::string_view::npos) return false;
    pos = found + piece.size();
  }
  return pos <= end;
}

bool condition_matches(const Condition& c, const ScalarValue& v) {
  switch (c.kind) {
    case Condition::Kind::kNumber: return v.type == ScalarValue::Type::kNumber && v.number == c.number;
    case Condition::Kind::kBool: return v.type == ScalarValue::Type::kBool && v.boolean == c.flag;
    case Condition::Kind::kNull: return v.type == ScalarValue::Type::kNull;
    case Condition::Kind::kNumeric: return v.type == ScalarValue::Type::kNumber && c.range.contains(v.number);
    case Condition::Kind::kAnythingBut: return anything_but_matches(c.anything_but, v);
    case Condition::Kind::kExists: return false;  // decided per field by the caller
    case Condition::Kind::kAnd:
      for (const Condition& part : c.all)
        if (!condition_matches(part, v)) return false;
      return true;
    default: {
      if (v.type != ScalarValue::Type::kString) return false;
      const bool needs_fold = c.kind == Condition::Kind::kEqualsIgnoreCase ||
                              c.kind == Condition::Kind::kPrefixIgnoreCase ||
                              c.kind == Condition::Kind::kSuffixIgnoreCase;
      return string_condition(c, v.text, needs_fold ? fold_case(v.text) : std::nullopt);
    }
  }
}

}  // namespace causeway::rules
