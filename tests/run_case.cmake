# tests/run_case.cmake -- runs one golden case folder (cmake -P; INQUEST, CASE, SRC, WORK set).
#
# A case folder holds:
#   args     the arguments of `inquest`, one per line. @CASE@ is the case folder, @SRC@ the
#            source tree, @WORK@ an empty scratch folder (also the working directory),
#            @SERVICES@ the folder of the test services (tests/support/services: its
#            inquest.yaml points at them), @MOCK_URL@ the base URL of their mock_http. A line
#            `---` separates commands run one after the other: each but the last must exit 0,
#            and the assertions are about the last. Without it: `run @CASE@/analyzer.lua
#            --json --no-fork --id case --now 2026-11-21T12:00:00Z`.
#   env      optional NAME=VALUE lines added to the environment.
#   stdout_to  optional: a path (with @WORK@) where the last command's stdout goes instead of
#            being captured, such as /dev/full to make every write to it fail; `stdout`
#            assertions then see nothing.
#   setup.cmake  optional CMake script include()d before the commands, with CASE, SRC and WORK
#            set: for what `inquest` cannot make itself, such as symbolic links
#            (file(CREATE_LINK .. "${WORK}/x" SYMBOLIC)). Keep it to preparing @WORK@.
#            The output of the Nth setup command is kept in @WORK@/setup-N.out.
#   expect   one assertion per line ('#' starts a comment):
#              exit N                     the exit code
#              status S                   the result's status (output is --json)
#              json KEY… = VALUE          a field of the JSON result, e.g. json errors 0 line = 7
#              stdout REGEX / stderr REGEX     the output matches (CMake regular expression)
#              !stdout REGEX / !stderr REGEX   the output does not match
#              file PATH                  PATH (with @WORK@) exists afterwards
#              !file PATH                 PATH does not exist afterwards
#              contains PATH REGEX        the file PATH exists and its text matches REGEX
#              !contains PATH REGEX       the file PATH exists and its text does not match
#              seconds N                  the command took less than N seconds
#              same FILE                  the JSON result equals the one in FILE (with @WORK@),
#                                         apart from timing fields (timing, and each call's
#                                         and step's duration_ms) and memory use (usage's
#                                         memory_peak and memory_reserved)
cmake_minimum_required(VERSION 3.25)

function(substitute text out)
    string(REPLACE "@CASE@" "${CASE}" text "${text}")
    string(REPLACE "@SRC@" "${SRC}" text "${text}")
    string(REPLACE "@WORK@" "${WORK}" text "${text}")
    string(REPLACE "@SERVICES@" "${SERVICES}" text "${text}")
    string(REPLACE "@MOCK_URL@" "${MOCK_URL}" text "${text}")
    set(${out} "${text}" PARENT_SCOPE)
endfunction()

# @MOCK_URL@: as the services fixture wrote it in @SERVICES@/env.
set(MOCK_URL "")
if(EXISTS "${SERVICES}/env")
    file(STRINGS "${SERVICES}/env" mock_lines REGEX "^MOCK_URL=")
    string(REGEX REPLACE "^MOCK_URL=" "" MOCK_URL "${mock_lines}")
endif()

file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
if(EXISTS "${CASE}/setup.cmake")
    include("${CASE}/setup.cmake")
endif()
if(EXISTS "${CASE}/args")
    file(STRINGS "${CASE}/args" args)
else()
    set(args run @CASE@/analyzer.lua --json --no-fork --id case --now 2026-11-21T12:00:00Z)
endif()
set(env_args "")
if(EXISTS "${CASE}/env")
    file(STRINGS "${CASE}/env" env_lines)
    foreach(line IN LISTS env_lines)
        substitute("${line}" line)
        list(APPEND env_args "${line}")
    endforeach()
endif()

# Runs the commands before the last one, which must succeed.
set(command "${INQUEST}")
set(setups 0)
foreach(arg IN LISTS args)
    if(arg STREQUAL "---")
        execute_process(COMMAND ${CMAKE_COMMAND} -E env ${env_args} ${command}
            WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "case ${CASE}: setup command failed (${rc}): ${command}\n${out}${err}")
        endif()
        math(EXPR setups "${setups} + 1")
        file(WRITE "${WORK}/setup-${setups}.out" "${out}")
        set(command "${INQUEST}")
        continue()
    endif()
    substitute("${arg}" arg)
    list(APPEND command "${arg}")
endforeach()

set(stdout_to OUTPUT_VARIABLE out)
set(out "")
if(EXISTS "${CASE}/stdout_to")
    file(STRINGS "${CASE}/stdout_to" stdout_path LIMIT_COUNT 1)
    substitute("${stdout_path}" stdout_path)
    set(stdout_to OUTPUT_FILE "${stdout_path}")
endif()
string(TIMESTAMP started "%s")
execute_process(COMMAND ${CMAKE_COMMAND} -E env ${env_args} ${command}
    WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc ${stdout_to} ERROR_VARIABLE err
    TIMEOUT 100)
string(TIMESTAMP finished "%s")
math(EXPR elapsed "${finished} - ${started}")

# A result without the fields that differ from run to run: timing, calls' and steps' durations.
function(without_timing json out)
    string(JSON json REMOVE "${json}" timing)
    # How much memory the Lua state held depends on when its collector ran, which a live run's
    # answers (arriving in chunks) and their replay move: not part of what a replay repeats.
    string(JSON json ERROR_VARIABLE none REMOVE "${json}" usage memory_peak)
    string(JSON json ERROR_VARIABLE none REMOVE "${json}" usage memory_reserved)
    foreach(list calls steps)
        string(JSON n ERROR_VARIABLE none LENGTH "${json}" ${list})
        if(NOT none AND n GREATER 0)
            math(EXPR last "${n} - 1")
            foreach(i RANGE ${last})
                string(JSON json REMOVE "${json}" ${list} ${i} duration_ms)
            endforeach()
        endif()
    endforeach()
    set(${out} "${json}" PARENT_SCOPE)
endfunction()

set(failures "")
macro(fail)
    string(APPEND failures "  ${ARGN}\n")
endmacro()

file(STRINGS "${CASE}/expect" expectations)
foreach(line IN LISTS expectations)
    if(line MATCHES "^[ \t]*(#|$)")
        continue()
    endif()
    substitute("${line}" line)
    if(line MATCHES "^exit ([0-9]+)$")
        if(NOT rc STREQUAL CMAKE_MATCH_1)
            fail("exit: expected ${CMAKE_MATCH_1}, got ${rc}")
        endif()
    elseif(line MATCHES "^status (.+)$")
        set(want "${CMAKE_MATCH_1}")
        string(JSON got ERROR_VARIABLE jerr GET "${out}" status)
        if(NOT got STREQUAL want)
            fail("status: expected ${want}, got '${got}' ${jerr}")
        endif()
    elseif(line MATCHES "^json (.+) = (.*)$")
        set(want "${CMAKE_MATCH_2}")
        string(REPLACE " " ";" path "${CMAKE_MATCH_1}")
        string(JSON got ERROR_VARIABLE jerr GET "${out}" ${path})
        if(NOT got STREQUAL want)
            fail("json ${CMAKE_MATCH_1}: expected '${want}', got '${got}' ${jerr}")
        endif()
    elseif(line MATCHES "^(!?)(stdout|stderr) (.+)$")
        set(negate "${CMAKE_MATCH_1}")
        set(stream "${CMAKE_MATCH_2}")
        set(regex "${CMAKE_MATCH_3}")
        if(stream STREQUAL "stdout")
            set(text "${out}")
        else()
            set(text "${err}")
        endif()
        if(negate AND text MATCHES "${regex}")
            fail("${stream} matches '${regex}' but must not")
        elseif(NOT negate AND NOT text MATCHES "${regex}")
            fail("${stream} does not match '${regex}'")
        endif()
    elseif(line MATCHES "^file (.+)$")
        if(NOT EXISTS "${CMAKE_MATCH_1}")
            fail("file ${CMAKE_MATCH_1} does not exist")
        endif()
    elseif(line MATCHES "^!file (.+)$")
        if(EXISTS "${CMAKE_MATCH_1}" OR IS_SYMLINK "${CMAKE_MATCH_1}")
            fail("file ${CMAKE_MATCH_1} exists but must not")
        endif()
    elseif(line MATCHES "^(!?)contains ([^ ]+) (.+)$")
        set(negate "${CMAKE_MATCH_1}")
        set(path "${CMAKE_MATCH_2}")
        set(regex "${CMAKE_MATCH_3}")
        if(NOT EXISTS "${path}")
            fail("file ${path} does not exist")
        else()
            file(READ "${path}" text)
            if(negate AND text MATCHES "${regex}")
                fail("${path} matches '${regex}' but must not")
            elseif(NOT negate AND NOT text MATCHES "${regex}")
                fail("${path} does not match '${regex}'")
            endif()
        endif()
    elseif(line MATCHES "^same (.+)$")
        file(READ "${CMAKE_MATCH_1}" other)
        without_timing("${out}" mine)
        without_timing("${other}" theirs)
        string(JSON equal ERROR_VARIABLE jerr EQUAL "${mine}" "${theirs}")
        if(NOT equal)
            fail("the result differs from ${CMAKE_MATCH_1} (apart from timing) ${jerr}:\n${theirs}")
        endif()
    elseif(line MATCHES "^seconds ([0-9]+)$")
        if(NOT elapsed LESS CMAKE_MATCH_1)
            fail("took ${elapsed}s, expected less than ${CMAKE_MATCH_1}s")
        endif()
    else()
        fail("expect: cannot read '${line}'")
    endif()
endforeach()

if(failures)
    string(REPLACE ";" " " shown "${command}")
    message(FATAL_ERROR "case ${CASE} failed:\n${failures}command: ${shown}\n"
                        "exit: ${rc}\nstdout:\n${out}\nstderr:\n${err}")
endif()
message(STATUS "ok: ${CASE}")
