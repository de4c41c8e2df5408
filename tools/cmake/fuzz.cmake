# The FOLD_FUZZ build's flags: every source of the project is compiled with libFuzzer's
# coverage instrumentation, AddressSanitizer and UndefinedBehaviorSanitizer. UBSan's
# checks stay recoverable so that its suppression file applies; tools/fuzz/run.sh sets
# halt_on_error=1, so any other report aborts and the fuzzer sees it as a crash.
# LibTorch, HDF5 and zlib stay uninstrumented prebuilt libraries.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "FOLD_FUZZ=ON needs clang (libFuzzer); configure with "
                      "-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14, as tools/fuzz/run.sh does")
endif()
set(FOLD_SANITIZERS -fsanitize=address,undefined -fno-omit-frame-pointer)
add_compile_options(${FOLD_SANITIZERS} -fsanitize=fuzzer-no-link)
add_link_options(-fsanitize=address,undefined)
