// Input paths and templates for rule targets; see rules/input_transform.h.
#include "rules/input_transform.h"

#include <cctype>

namespace causeway::rules {
namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A string's contents as they go inside a JSON string (escaped, without the quotes).
std::string escaped(const std::string& s) {
  const std::string quoted = dump(json(s));
  return quoted.substr(1, quoted.size() - 2);
}

bool is_placeholder_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
}

bool is_predefined(const std::string& name) {
  return name == "causeway.event" || name == "causeway.event.json" || name == "causeway.rule-name" ||
         name == "causeway.event.time";
}

}  // namespace

Result<JsonPath> JsonPath::parse(std::string_view text) {
  JsonPath p;
  p.text_ = std::string(text);
  if (text.empty() || text[0] != '$') return invalid_argument("JSON path \"" + p.text_ + "\" must start with $");
  size_t i = 1;
  while (i < text.size()) {
    const size_t at = i;
    if (text[i] == '.') {
      ++i;
      size_t end = i;
      while (end < text.size() && text[end] != '.' && text[end] != '[' && text[end] != ']') ++end;
      if (end == i) {
        return invalid_argument("JSON path \"" + p.text_ + "\": empty name at position " + std::to_string(at));
      }
      const std::string key(text.substr(i, end - i));
      p.steps_.push_back(key == "*" ? Step{Step::Kind::kWildcard, "", 0} : Step{Step::Kind::kKey, key, 0});
      i = end;
    } else if (text[i] == '[') {
      const size_t close = text.find(']', i);
      if (close == std::string_view::npos) {
        return invalid_argument("JSON path \"" + p.text_ + "\": unclosed [ at position " + std::to_string(at));
      }
      const std::string_view inner = text.substr(i + 1, close - i - 1);
      if (inner == "*") {
        p.steps_.push_back(Step{Step::Kind::kWildcard, "", 0});
      } else if (!inner.empty() && inner.size() <= 9 &&
                 inner.find_first_not_of("0123456789") == std::string_view::npos) {
        p.steps_.push_back(Step{Step::Kind::kIndex, "", static_cast<size_t>(std::stoul(std::string(inner)))});
      } else {
        return invalid_argument("JSON path \"" + p.text_ + "\": [" + std::string(inner) + "] at position " +
                                std::to_string(at) + " is not an index or * (use dot notation for names)");
      }
      i = close + 1;
    } else {
      return invalid_argument("JSON path \"" + p.text_ + "\": unexpected '" + std::string(1, text[i]) +
                              "' at position " + std::to_string(at));
    }
    if (p.steps_.size() > 64) return invalid_argument("JSON path \"" + p.text_ + "\" has more than 64 steps");
  }
  return p;
}

json JsonPath::select(const json& doc) const {
  std::vector<const json*> current{&doc};
  bool many = false;
  for (const Step& s : steps_) {
    std::vector<const json*> next;
    for (const json* c : current) {
      switch (s.kind) {
        case Step::Kind::kKey:
          if (c->is_object()) {
            const auto it = c->find(s.key);
            if (it != c->end()) next.push_back(&*it);
          }
          break;
        case Step::Kind::kIndex:
          if (c->is_array() && s.index < c->size()) next.push_back(&(*c)[s.index]);
          break;
        case Step::Kind::kWildcard:
          many = true;
          if (c->is_array() || c->is_object())
            for (const auto& e : *c) next.push_back(&e);
          break;
      }
    }
    current = std::move(next);
  }
  if (!many) return current.empty() ? json(json::value_t::discarded) : *current.front();
  json all = json::array();
  for (const json* c : current) all.push_back(*c);
  return all;
}

Result<std::shared_ptr<const InputTransform>> InputTransform::create(std::string_view input_path,
                                                                     const std::map<std::string, std::string>& paths,
                                                                     std::string_view input_template) {
  auto t = std::make_shared<InputTransform>();
  if (!input_path.empty() && !input_template.empty()) {
    return invalid_argument("give an input path or an input template, not both");
  }
  if (!input_path.empty()) {
    CAUSEWAY_ASSIGN_OR_RETURN(JsonPath p, JsonPath::parse(input_path));
    t->input_path_ = std::make_unique<JsonPath>(std::move(p));
  }
  if (!paths.empty() && input_template.empty()) return invalid_argument("input paths need an input template to fill");
  CAUSEWAY_RETURN_IF_ERROR(t->parse_paths(paths));
  if (input_template.size() > kMaxTemplateBytes) {
    return invalid_argument("input template is " + std::to_string(input_template.size()) + " bytes; the limit is " +
                            std::to_string(kMaxTemplateBytes));
  }
  t->template_ = std::string(input_template);
  const size_t first = t->template_.find_first_not_of(" \t\r\n");
  t->json_template_ = first != std::string::npos && (t->template_[first] == '{' || t->template_[first] == '[');
  CAUSEWAY_RETURN_IF_ERROR(t->split_template());
  if (t->json_template_) CAUSEWAY_RETURN_IF_ERROR(t->check_json_template());
  return std::shared_ptr<const InputTransform>(std::move(t));
}

// The named input paths: bounded in number, names of placeholder characters and not in the
// reserved causeway. namespace, each path valid.
Status InputTransform::parse_paths(const std::map<std::string, std::string>& paths) {
  if (paths.size() > kMaxInputPaths) {
    return invalid_argument("input paths hold " + std::to_string(paths.size()) + " entries; the limit is " +
                            std::to_string(kMaxInputPaths));
  }
  for (const auto& [name, path] : paths) {
    if (name.empty() || name.size() > 256) return invalid_argument("input path name \"" + name + "\" must be 1-256 characters");
    for (char c : name)
      if (!is_placeholder_char(c)) return invalid_argument("input path name \"" + name + "\" may hold letters, digits, '_', '-' and '.' only");
    if (name.rfind("causeway.", 0) == 0) return invalid_argument("input path name \"" + name + "\": names starting with causeway. are reserved");
    auto parsed = JsonPath::parse(path);
    if (!parsed) return invalid_argument("input path \"" + name + "\": " + std::string(parsed.error().message()));
    paths_.emplace(name, std::move(*parsed));
  }
  return Status();
}

// Splits the template at its placeholders into pieces_, noting which sit inside JSON
// strings. A placeholder must name an input path or a predefined value, and in a JSON
// template must not be an object key.
Status InputTransform::split_template() {
  const std::string& tpl = template_;
  bool in_string = false;
  std::string literal;
  for (size_t i = 0; i < tpl.size(); ++i) {
    const char c = tpl[i];
    if (json_template_ && in_string && c == '\\' && i + 1 < tpl.size()) {
      literal += c;
      literal += tpl[++i];
      continue;
    }
    if (json_template_ && c == '"') in_string = !in_string;
    if (c == '<') {
      size_t end = i + 1;
      while (end < tpl.size() && is_placeholder_char(tpl[end])) ++end;
      if (end < tpl.size() && tpl[end] == '>' && end > i + 1) {
        const std::string name = tpl.substr(i + 1, end - i - 1);
        if (!is_predefined(name) && paths_.count(name) == 0) {
          return invalid_argument("input template: placeholder <" + name +
                                  "> names no input path (and is not one of <causeway.event>, <causeway.event.json>, "
                                  "<causeway.rule-name>, <causeway.event.time>)");
        }
        if (json_template_) {
          // A key: the next non-space character after the placeholder (or after the string
          // it is in) is ':'.
          size_t after = end + 1;
          if (in_string) {
            while (after < tpl.size() && tpl[after] != '"') after += tpl[after] == '\\' ? 2 : 1;
            ++after;
          }
          while (after < tpl.size() && std::isspace(static_cast<unsigned char>(tpl[after])) != 0) ++after;
          if (after < tpl.size() && tpl[after] == ':') {
            return invalid_argument("input template: placeholder <" + name + "> is used as an object key");
          }
        }
        pieces_.push_back(Piece{std::move(literal), name, in_string});
        literal.clear();
        i = end;
        continue;
      }
    }
    literal += c;
  }
  pieces_.push_back(Piece{std::move(literal), "", false});
  return Status();
}

// A JSON template must be valid JSON once filled: checked with the fillers a missing value gets.
Status InputTransform::check_json_template() const {
  std::string filled;
  for (const Piece& p : pieces_) {
    filled += p.literal;
    if (!p.placeholder.empty() && !p.in_string) filled += "null";
  }
  const json parsed = json::parse(filled, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return invalid_argument("input template starts like JSON but is not valid JSON with its placeholders filled "
                            "(placeholders outside strings are values, e.g. {\"id\": <id>})");
  }
  return Status();
}

std::string InputTransform::apply(const json& event, std::string_view rule_name) const {
  if (template_.empty()) {
    if (!input_path_) return dump(event);
    const json v = input_path_->select(event);
    return v.is_discarded() ? std::string("null") : dump(v);
  }
  std::string out;
  for (const Piece& p : pieces_) {
    out += p.literal;
    if (p.placeholder.empty()) continue;
    json v(json::value_t::discarded);
    if (p.placeholder == "causeway.event") {
      v = event;
    } else if (p.placeholder == "causeway.event.json") {
      v = dump(event);  // the event as text: escaped inside a string, a JSON string outside
    } else if (p.placeholder == "causeway.rule-name") {
      v = std::string(rule_name);
    } else if (p.placeholder == "causeway.event.time") {
      if (event.contains("time")) v = event["time"];
    } else {
      v = paths_.at(p.placeholder).select(event);
    }
    if (!json_template_) {
      if (!v.is_discarded()) out += v.is_string() ? v.get<std::string>() : dump(v);
    } else if (p.in_string) {
      if (!v.is_discarded()) out += escaped(v.is_string() ? v.get<std::string>() : dump(v));
    } else {
      out += v.is_discarded() ? std::string("null") : dump(v);
    }
  }
  return out;
}

}  // namespace causeway::rules
