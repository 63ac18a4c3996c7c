# cmake/InquestLint.cmake -- the `lint` target (clang-format + clang-tidy) and the `lint_format`
# test (clang-format only; fast, so every ctest run checks formatting). Include it from the
# top-level CMakeLists.txt after all targets are defined, with CMAKE_EXPORT_COMPILE_COMMANDS ON
# set before any target (clang-tidy reads compile_commands.json). Compiler flags live in
# InquestFlags.cmake; the rules themselves in .clang-format and .clang-tidy.
#
#   INQUEST_LINT_EXCLUDE_REGEX  paths (relative to the source dir) to leave out, e.g. vendored
#                               code: -DINQUEST_LINT_EXCLUDE_REGEX='^tests/fuzz/corpus/'

include_guard(GLOBAL)

if(NOT CMAKE_EXPORT_COMPILE_COMMANDS)
    message(FATAL_ERROR "InquestLint: clang-tidy needs compile_commands.json: put "
                        "set(CMAKE_EXPORT_COMPILE_COMMANDS ON) in CMakeLists.txt before any target")
endif()

set(INQUEST_LINT_EXCLUDE_REGEX "" CACHE STRING "Source paths that lint leaves out (regex)")

find_program(INQUEST_CLANG_FORMAT NAMES clang-format clang-format-16 clang-format-15
                                        clang-format-14)
find_program(INQUEST_CLANG_TIDY NAMES clang-tidy clang-tidy-16 clang-tidy-15 clang-tidy-14)
if(NOT INQUEST_CLANG_FORMAT)
    message(WARNING "clang-format not found: `lint` and the lint_format test will fail. "
                    "Run scripts/install-deps (or apt-get install clang-format), then re-run cmake.")
endif()
if(NOT INQUEST_CLANG_TIDY)
    message(WARNING "clang-tidy not found: `lint` will fail. "
                    "Run scripts/install-deps (or apt-get install clang-tidy), then re-run cmake.")
endif()

# inquest__lint_glob(<out-var> EXTS <ext>... DIRS <dir>...)
# Source-relative paths of the files with those extensions under those folders, sorted, minus
# the build tree and INQUEST_LINT_EXCLUDE_REGEX. CONFIGURE_DEPENDS: adding a file re-globs.
function(inquest__lint_glob out)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "EXTS;DIRS")
    set(globs "")
    foreach(dir IN LISTS arg_DIRS)
        foreach(ext IN LISTS arg_EXTS)
            list(APPEND globs "${CMAKE_SOURCE_DIR}/${dir}/*.${ext}")
        endforeach()
    endforeach()
    file(GLOB_RECURSE found LIST_DIRECTORIES false CONFIGURE_DEPENDS ${globs})
    set(files "")
    foreach(path IN LISTS found)
        file(RELATIVE_PATH binrel "${CMAKE_BINARY_DIR}" "${path}")
        if(NOT binrel MATCHES "^\\.\\./") # inside the build tree: generated, not ours
            continue()
        endif()
        file(RELATIVE_PATH rel "${CMAKE_SOURCE_DIR}" "${path}")
        if(INQUEST_LINT_EXCLUDE_REGEX AND rel MATCHES "${INQUEST_LINT_EXCLUDE_REGEX}")
            continue()
        endif()
        list(APPEND files "${rel}")
    endforeach()
    list(SORT files)
    set(${out} "${files}" PARENT_SCOPE)
endfunction()

inquest__lint_glob(INQUEST_FORMAT_FILES EXTS c h
                   DIRS runtime sdk workers postproc backtest integrations tests)
inquest__lint_glob(INQUEST_TIDY_FILES EXTS c DIRS runtime sdk workers integrations)

set(INQUEST_LINT_FORMAT_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/lint-format.sh")
set(format_cmd bash "${INQUEST_LINT_FORMAT_SCRIPT}" --clang-format "${INQUEST_CLANG_FORMAT}"
               ${INQUEST_FORMAT_FILES})

if(INQUEST_CLANG_TIDY)
    if(INQUEST_TIDY_FILES)
        # -Wno-unknown-warning-option: GCC-only warning flags in compile_commands.json are not
        # clang-tidy's business.
        set(tidy_cmd "${INQUEST_CLANG_TIDY}" -p "${CMAKE_BINARY_DIR}" --quiet
                     --extra-arg=-Wno-unknown-warning-option ${INQUEST_TIDY_FILES})
    else()
        set(tidy_cmd "${CMAKE_COMMAND}" -E echo "lint: no C files for clang-tidy")
    endif()
else()
    set(tidy_cmd "${CMAKE_COMMAND}" -E echo
                 "lint: clang-tidy is not installed: run scripts/install-deps, then re-run cmake"
            COMMAND "${CMAKE_COMMAND}" -E false)
endif()

add_custom_target(lint
    COMMAND ${format_cmd}
    COMMAND ${tidy_cmd}
    WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}"
    COMMENT "lint: clang-format on ${CMAKE_SOURCE_DIR}, clang-tidy with ${CMAKE_BINARY_DIR}"
    VERBATIM)

add_test(NAME lint_format COMMAND ${format_cmd} WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}")
set_tests_properties(lint_format PROPERTIES LABELS lint)
