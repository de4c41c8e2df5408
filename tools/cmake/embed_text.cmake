# Writes ${OUT}: a C++ source defining `const char* ${NAMESPACE}::${FUNCTION}()` that
# returns the text of ${INPUT}, so that a helper script travels inside the binary. Run at
# build time so that edits to the script are picked up.
file(READ "${INPUT}" text)
string(FIND "${text}" ")fold_text\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} holds the raw-string delimiter )fold_text\"")
endif()
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUT}.tmp" "// Generated from ${name}; do not edit.\nnamespace ${NAMESPACE} {\n\nconst char* ${FUNCTION}() {\n  return R\"fold_text(${text})fold_text\";\n}\n\n}  // namespace ${NAMESPACE}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
