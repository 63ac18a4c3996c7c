# cmake/InquestFlags.cmake -- warning, -Werror and sanitizer options, applied per target.
# Include it before defining targets, then call inquest_target_flags(<target>) on each target
# built from our own sources (never on imported or third-party ones). Lint lives in
# InquestLint.cmake.
#
#   INQUEST_WERROR    turn warnings into errors (CI sets it: `make` passes it when CI=true)
#   INQUEST_SANITIZE  AddressSanitizer + UndefinedBehaviorSanitizer, any UB aborts the test
#                     (`make test-sanitize` builds with it in build-asan/)
#   INQUEST_FUZZ      clang only: the sanitizers above plus libFuzzer's coverage on every target,
#                     and tests/fuzz/'s harnesses as libFuzzer binaries (`make fuzz`, in
#                     build-fuzz/; docs/fuzzing.md)

include_guard(GLOBAL)

option(INQUEST_WERROR "Treat compiler warnings as errors" OFF)
option(INQUEST_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(INQUEST_FUZZ "Build the fuzz harnesses as libFuzzer binaries (clang), sanitized" OFF)

# Lua's own makefile set, plus -Wextra. -Wunused-parameter stays on: mark a parameter that a
# callback signature forces on you with (void)param.
set(INQUEST_WARNING_FLAGS -Wall -Wextra -Wshadow -Wwrite-strings -Wmissing-declarations)

# -fno-sanitize-recover=undefined: a UB report fails the process (and so the test) instead of
# scrolling past in the log.
set(INQUEST_SANITIZE_COMPILE_FLAGS
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
set(INQUEST_SANITIZE_LINK_FLAGS -fsanitize=address,undefined)

if(INQUEST_SANITIZE AND NOT CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "INQUEST_SANITIZE needs GCC or Clang, not ${CMAKE_C_COMPILER_ID}")
endif()

# libFuzzer comes with clang (Debian: clang and libclang-rt-dev, which scripts/install-deps
# installs); say so at configure time rather than with a linker error.
if(INQUEST_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "INQUEST_FUZZ needs clang (-DCMAKE_C_COMPILER=clang), not "
                            "${CMAKE_C_COMPILER_ID}")
    endif()
    include(CheckCSourceCompiles)
    set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=fuzzer)
    check_c_source_compiles("
        #include <stddef.h>
        #include <stdint.h>
        int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }"
        INQUEST_HAVE_LIBFUZZER)
    unset(CMAKE_REQUIRED_LINK_OPTIONS)
    if(NOT INQUEST_HAVE_LIBFUZZER)
        message(FATAL_ERROR "INQUEST_FUZZ: clang cannot link -fsanitize=fuzzer: libFuzzer is "
                            "missing (apt-get install libclang-rt-dev, or scripts/install-deps)")
    endif()
    # Coverage for libFuzzer on every target; the harnesses add -fsanitize=fuzzer (its main).
    list(APPEND INQUEST_SANITIZE_COMPILE_FLAGS -fsanitize=fuzzer-no-link)
endif()

# inquest_target_flags(<target>)
# Adds the warning flags, -Werror when INQUEST_WERROR, and the sanitizer flags when
# INQUEST_SANITIZE to 'target'. Compile flags are PRIVATE: they never leak to consumers.
# Sanitizer link flags are PUBLIC on libraries, so that any executable linking an
# instrumented static library also links the sanitizer runtime, even one that was not passed
# through this function.
function(inquest_target_flags target)
    if(NOT TARGET ${target})
        message(FATAL_ERROR "inquest_target_flags: '${target}' is not a target")
    endif()
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "INTERFACE_LIBRARY")
        # Nothing is compiled for it; only the link requirement can be passed on.
        if(INQUEST_SANITIZE OR INQUEST_FUZZ)
            target_link_options(${target} INTERFACE ${INQUEST_SANITIZE_LINK_FLAGS})
        endif()
        return()
    endif()

    target_compile_options(${target} PRIVATE ${INQUEST_WARNING_FLAGS})
    if(INQUEST_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
    if(INQUEST_SANITIZE OR INQUEST_FUZZ)
        target_compile_options(${target} PRIVATE ${INQUEST_SANITIZE_COMPILE_FLAGS})
        if(type STREQUAL "EXECUTABLE")
            target_link_options(${target} PRIVATE ${INQUEST_SANITIZE_LINK_FLAGS})
        else()
            target_link_options(${target} PUBLIC ${INQUEST_SANITIZE_LINK_FLAGS})
        endif()
    endif()
endfunction()
