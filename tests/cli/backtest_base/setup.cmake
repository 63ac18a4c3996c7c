# A git repository in @WORK@/repo: demo.level and its cases committed (the base), then changed
# in the working tree (a higher threshold, a longer title) beside a new analyzer, demo.fresh.
set(repo "${WORK}/repo")
set(fixtures "${SRC}/tests/fixtures/backtest/base")
file(MAKE_DIRECTORY "${repo}")
file(COPY "${fixtures}/v1/analyzers" DESTINATION "${repo}")
foreach(step "init;-q" "add;-A" "-c;user.name=test;-c;user.email=test@localhost;commit;-qm;base")
    execute_process(COMMAND git ${step} WORKING_DIRECTORY "${repo}" RESULT_VARIABLE rc
                    ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "setup: git ${step}: ${err}")
    endif()
endforeach()
# file(COPY) skips a file whose copy has the same time: the changed analyzer replaces the old.
file(REMOVE "${repo}/analyzers/demo/level.lua")
file(COPY "${fixtures}/v2/analyzers" DESTINATION "${repo}")
