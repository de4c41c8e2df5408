# Writes ${OUT}: a C++ source defining fold::embedded_configs() from the TOML files in
# ${CONFIG_DIR}. Run at build time so that edits to configs/ are picked up.
file(GLOB files "${CONFIG_DIR}/*.toml")
list(SORT files)
set(body "")
foreach(f IN LISTS files)
  get_filename_component(name "${f}" NAME_WE)
  file(READ "${f}" text)
  string(APPEND body "      {\"${name}\", R\"fold_toml(${text})fold_toml\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from configs/*.toml; do not edit.\n#include \"fold/embedded_configs.h\"\n\nnamespace fold {\n\nconst std::vector<EmbeddedConfig>& embedded_configs() {\n  static const std::vector<EmbeddedConfig> configs = {\n${body}  };\n  return configs;\n}\n\n}  // namespace fold\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
