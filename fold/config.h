// Configuration: configs/base.toml is the schema (every key, its type and its
// AlphaFold2 model_1 default); a preset or user file overlays it; `--set a.b=c`
// overrides single keys. Unknown keys and ill-typed values are errors naming the key.
// The presets are compiled into the binary, so `fold` finds them from any directory.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace fold {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Config {
 public:
  // base.toml alone (AlphaFold2 model_1 inference settings).
  Config();
  ~Config();
  Config(const Config&);
  Config& operator=(const Config&);

  // `preset_or_path` is a preset name (e.g. "tiny", "af2_model_1_ptm") or a TOML file;
  // empty means base. A file may start from a preset with `extends = "<name or path>"`.
  static Config load(const std::string& preset_or_path,
                     const std::vector<std::string>& overrides = {});
  static std::vector<std::string> presets();

  // Overlays TOML text (from `source`, named in errors) onto this config.
  void merge(const std::string& toml_text, const std::string& source);
  // "a.b.c=value"; the value is read as the key's type in the schema.
  void set(const std::string& assignment);

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<double> get_float_list(const std::string& key) const;

  std::string to_toml() const;
  std::string to_json() const;

 private:
  void validate() const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fold
