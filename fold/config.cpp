#include "fold/config.h"

#include <toml++/toml.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "evoformer/checkpoint.h"
#include "fold/embedded_configs.h"

namespace fold {

struct Config::Impl {
  toml::table table;
};

namespace {

constexpr int kMaxExtendsDepth = 8;

const char* type_name(const toml::node& n) {
  if (n.is_table()) return "section";
  if (n.is_integer()) return "integer";
  if (n.is_floating_point()) return "float";
  if (n.is_boolean()) return "bool";
  if (n.is_string()) return "string";
  if (n.is_array()) return "array";
  return "value";
}

std::string join(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
}

// The schema value `like` fixes the type; an integer may stand for a float.
std::optional<toml::value<double>> as_float(const toml::node& v) {
  if (v.is_floating_point()) return toml::value<double>(*v.value<double>());
  if (v.is_integer()) return toml::value<double>(static_cast<double>(*v.value<int64_t>()));
  return std::nullopt;
}

void assign_typed(toml::table& parent, std::string_view name, const toml::node& like,
                  const toml::node& v, const std::string& key, const std::string& source) {
  auto bad = [&](const char* got) {
    return ConfigError(source + ": key '" + key + "' expects " + type_name(like) + ", got " + got);
  };
  if (like.is_integer()) {
    if (!v.is_integer()) throw bad(type_name(v));
    parent.insert_or_assign(name, toml::value<int64_t>(*v.value<int64_t>()));
  } else if (like.is_floating_point()) {
    auto f = as_float(v);
    if (!f) throw bad(type_name(v));
    parent.insert_or_assign(name, *f);
  } else if (like.is_boolean()) {
    if (!v.is_boolean()) throw bad(type_name(v));
    parent.insert_or_assign(name, toml::value<bool>(*v.value<bool>()));
  } else if (like.is_string()) {
    if (!v.is_string()) throw bad(type_name(v));
    parent.insert_or_assign(name, toml::value<std::string>(*v.value<std::string>()));
  } else if (like.is_array()) {
    if (!v.is_array()) throw bad(type_name(v));
    const toml::array& schema = *like.as_array();
    toml::array out;
    for (const toml::node& e : *v.as_array()) {
      if (schema.empty()) {
        out.push_back(e);
        continue;
      }
      const toml::node& el = *schema.get(0);
      if (el.is_floating_point()) {
        auto f = as_float(e);
        if (!f) throw bad((std::string("array of ") + type_name(e)).c_str());
        out.push_back(*f);
      } else if (el.type() == e.type()) {
        out.push_back(e);
      } else {
        throw bad((std::string("array of ") + type_name(e)).c_str());
      }
    }
    parent.insert_or_assign(name, std::move(out));
  }
}

void overlay(toml::table& base, const toml::table& over, const std::string& prefix,
             const std::string& source) {
  for (auto&& [k, v] : over) {
    const std::string key = join(prefix, k.str());
    toml::node* b = base.get(k.str());
    if (!b) throw ConfigError(source + ": unknown key '" + key + "'");
    if (b->is_table()) {
      if (!v.is_table())
        throw ConfigError(source + ": '" + key + "' is a section, got " + type_name(v));
      overlay(*b->as_table(), *v.as_table(), key, source);
      continue;
    }
    if (v.is_table())
      throw ConfigError(source + ": key '" + key + "' expects " + type_name(*b) + ", got a section");
    assign_typed(base, k.str(), *b, v, key, source);
  }
}

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(source + ":" + std::to_string(e.source().begin.line) + ": " +
                      std::string(e.description()));
  }
}

const std::string* preset_text(const std::string& name) {
  for (const EmbeddedConfig& c : embedded_configs())
    if (name == c.name) return &c.text;
  return nullptr;
}

std::string list_presets() {
  std::string s;
  for (const std::string& p : Config::presets()) s += (s.empty() ? "" : ", ") + p;
  return s;
}

struct Source {
  std::string text;
  std::string name;  // for messages
  std::filesystem::path dir;  // where relative `extends` paths start
};

Source resolve(const std::string& preset_or_path, const std::filesystem::path& from) {
  if (const std::string* t = preset_text(preset_or_path))
    return {*t, "configs/" + preset_or_path + ".toml", {}};
  std::filesystem::path p(preset_or_path);
  if (p.is_relative() && !from.empty()) p = from / p;
  std::ifstream in(p);
  if (!in)
    throw ConfigError("no preset or readable file named '" + preset_or_path +
                      "' (presets: " + list_presets() + ")");
  std::stringstream ss;
  ss << in.rdbuf();
  return {ss.str(), p.string(), p.parent_path()};
}

void merge_source(toml::table& into, const Source& src, int depth) {
  if (depth > kMaxExtendsDepth)
    throw ConfigError(src.name + ": 'extends' chain deeper than " +
                      std::to_string(kMaxExtendsDepth) + " (a cycle?)");
  toml::table over = parse_toml(src.text, src.name);
  if (toml::node* ext = over.get("extends")) {
    if (!ext->is_string()) throw ConfigError(src.name + ": 'extends' expects a string");
    const std::string parent = *ext->value<std::string>();
    over.erase("extends");
    merge_source(into, resolve(parent, src.dir), depth + 1);
  }
  overlay(into, over, "", src.name);
}

bool is_positive_integer(const std::string& s) {
  if (s.empty()) return false;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && v > 0;
}

void check_sizes(const toml::table& t, const std::string& prefix) {
  for (auto&& [k, v] : t) {
    const std::string key = join(prefix, k.str());
    if (v.is_table()) {
      check_sizes(*v.as_table(), key);
    } else if (v.is_integer()) {
      const std::string_view name = k.str();
      const int64_t x = *v.value<int64_t>();
      const bool channel = name.rfind("c_", 0) == 0 || name.rfind("no_heads", 0) == 0;
      if ((channel && x <= 0) || x < 0)
        throw ConfigError("config: key '" + key + "' must be " + (channel ? "positive" : "non-negative") +
                          ", got " + std::to_string(x));
    }
  }
}

}  // namespace

Config::Config() : impl_(std::make_unique<Impl>()) {
  const std::string* base = preset_text("base");
  if (!base) throw ConfigError("the build holds no configs/base.toml");
  impl_->table = parse_toml(*base, "configs/base.toml");
}

Config::~Config() = default;
Config::Config(const Config& o) : impl_(std::make_unique<Impl>(*o.impl_)) {}
Config& Config::operator=(const Config& o) {
  if (this != &o) impl_ = std::make_unique<Impl>(*o.impl_);
  return *this;
}

std::vector<std::string> Config::presets() {
  std::vector<std::string> names;
  for (const EmbeddedConfig& c : embedded_configs())
    if (c.name != "base") names.push_back(c.name);
  return names;
}

Config Config::load(const std::string& preset_or_path, const std::vector<std::string>& overrides) {
  Config c;
  if (!preset_or_path.empty()) merge_source(c.impl_->table, resolve(preset_or_path, {}), 0);
  for (const std::string& o : overrides) c.set(o);
  c.validate();
  return c;
}

void Config::merge(const std::string& toml_text, const std::string& source) {
  merge_source(impl_->table, {toml_text, source, {}}, 0);
}

void Config::set(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set expects key=value, got '" + assignment + "'");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  const size_t dot = key.rfind('.');
  toml::table* parent = &impl_->table;
  if (dot != std::string::npos) {
    parent = impl_->table.at_path(key.substr(0, dot)).as_table();
    if (!parent) throw ConfigError("--set: unknown key '" + key + "'");
  }
  const std::string name = dot == std::string::npos ? key : key.substr(dot + 1);
  const toml::node* like = parent->get(name);
  if (!like) throw ConfigError("--set: unknown key '" + key + "'");
  if (like->is_table()) throw ConfigError("--set: '" + key + "' is a section, not a value");
  // Strings are taken verbatim (so `--set globals.chunk_size=4` is the string "4");
  // other types are parsed as TOML and then checked against the schema.
  if (like->is_string()) {
    std::string v = value;
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
      v = v.substr(1, v.size() - 2);
    parent->insert_or_assign(name, toml::value<std::string>(v));
    return;
  }
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value, "--set " + key);
  } catch (const toml::parse_error&) {
    throw ConfigError("--set: key '" + key + "' expects " + type_name(*like) + ", got '" + value + "'");
  }
  assign_typed(*parent, name, *like, *parsed.get("v"), key, "--set");
}

void Config::validate() const {
  auto one_of = [&](const std::string& key, std::initializer_list<const char*> allowed) {
    const std::string v = get_string(key);
    for (const char* a : allowed)
      if (v == a) return;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : "|") + std::string(a);
    throw ConfigError("config: key '" + key + "' must be " + list + ", got '" + v + "'");
  };
  const std::string chunk = get_string("globals.chunk_size");
  if (chunk != "none" && chunk != "auto" && !is_positive_integer(chunk))
    throw ConfigError("config: key 'globals.chunk_size' must be none|auto|<positive integer>, got '" +
                      chunk + "'");
  one_of("globals.precision", {"fp32", "bf16", "fp16"});
  one_of("kernels.attention", {"auto", "fused", "reference"});
  // The one parser of the policy (evoformer/checkpoint.h), so config and model agree.
  const std::string ckpt = get_string("train.checkpoint");
  try {
    (void)evoformer::CheckpointPolicy::parse(ckpt);
  } catch (const std::invalid_argument&) {
    throw ConfigError("config: key 'train.checkpoint' must be none|block|every:K, got '" + ckpt + "'");
  }
  if (get_int("dist.dap") < 1)
    throw ConfigError("config: key 'dist.dap' must be >= 1, got " + std::to_string(get_int("dist.dap")));
  const int64_t zero = get_int("dist.zero");
  if (zero < 0 || zero > 2)
    throw ConfigError("config: key 'dist.zero' must be 0, 1 or 2, got " + std::to_string(zero));
  check_sizes(impl_->table, "");
}

bool Config::has(const std::string& key) const {
  return static_cast<bool>(impl_->table.at_path(key));
}

namespace {
const toml::node& lookup(const toml::table& t, const std::string& key) {
  const toml::node* n = t.at_path(key).node();
  if (!n) throw ConfigError("config: no key '" + key + "'");
  return *n;
}
}  // namespace

int64_t Config::get_int(const std::string& key) const {
  const toml::node& n = lookup(impl_->table, key);
  if (!n.is_integer()) throw ConfigError("config: key '" + key + "' is " + type_name(n) + ", not integer");
  return *n.value<int64_t>();
}

double Config::get_float(const std::string& key) const {
  auto f = as_float(lookup(impl_->table, key));
  if (!f) throw ConfigError("config: key '" + key + "' is not a number");
  return f->get();
}

bool Config::get_bool(const std::string& key) const {
  const toml::node& n = lookup(impl_->table, key);
  if (!n.is_boolean()) throw ConfigError("config: key '" + key + "' is " + type_name(n) + ", not bool");
  return *n.value<bool>();
}

std::string Config::get_string(const std::string& key) const {
  const toml::node& n = lookup(impl_->table, key);
  if (!n.is_string()) throw ConfigError("config: key '" + key + "' is " + type_name(n) + ", not string");
  return *n.value<std::string>();
}

std::vector<double> Config::get_float_list(const std::string& key) const {
  const toml::node& n = lookup(impl_->table, key);
  if (!n.is_array()) throw ConfigError("config: key '" + key + "' is " + type_name(n) + ", not array");
  std::vector<double> out;
  for (const toml::node& e : *n.as_array()) {
    auto f = as_float(e);
    if (!f) throw ConfigError("config: key '" + key + "' holds a non-number");
    out.push_back(f->get());
  }
  return out;
}

std::string Config::to_toml() const {
  std::ostringstream os;
  os << impl_->table;
  return os.str();
}

std::string Config::to_json() const {
  std::ostringstream os;
  os << toml::json_formatter{impl_->table};
  return os.str();
}

}  // namespace fold
