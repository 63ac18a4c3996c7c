# A git repository in @WORK@/repo: demo.level and its cases eu-spike and quiet, committed and
# unchanged in the working tree, so that every case passes on head and on base when nothing
# goes wrong (the cases backtest_base_head_* and backtest_base_crash_twice include this).
set(repo "${WORK}/repo")
set(fixtures "${SRC}/tests/fixtures/backtest/analyzers/demo")
file(COPY "${fixtures}/level.lua" DESTINATION "${repo}/analyzers/demo")
file(COPY "${fixtures}/level.cases/eu-spike" "${fixtures}/level.cases/quiet"
     DESTINATION "${repo}/analyzers/demo/level.cases")
foreach(step "init;-q" "add;-A" "-c;user.name=test;-c;user.email=test@localhost;commit;-qm;base")
    execute_process(COMMAND git ${step} WORKING_DIRECTORY "${repo}" RESULT_VARIABLE rc
                    ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "setup: git ${step}: ${err}")
    endif()
endforeach()
