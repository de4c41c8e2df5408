# fold_embedded_configs(<var>): adds the build step that compiles configs/*.toml into a
# C++ source (fold::embedded_configs(), so `fold` finds its presets from any directory)
# and sets <var> to that source. Used by fold_config and by the config fuzz target.
function(fold_embedded_configs out_var)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_configs.cpp)
  file(GLOB config_files CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/configs/*.toml)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DCONFIG_DIR=${PROJECT_SOURCE_DIR}/configs -DOUT=${out}
            -P ${PROJECT_SOURCE_DIR}/tools/cmake/embed_configs.cmake
    DEPENDS ${config_files} ${PROJECT_SOURCE_DIR}/tools/cmake/embed_configs.cmake
    COMMENT "Embedding configs/*.toml")
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
