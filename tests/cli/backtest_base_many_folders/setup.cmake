# A git repository whose analyzer path is 16 folders (the most --analyzers takes): f01 to f15
# with a file each, and the last, "g[1]*?", with demo.level and its case quiet, all committed.
# git archive once took at most 12 of them, and a folder's name was a glob pattern.
set(repo "${WORK}/repo")
set(fixtures "${SRC}/tests/fixtures/backtest/analyzers/demo")
foreach(i RANGE 1 15)
    string(LENGTH "${i}" len)
    if(len EQUAL 1)
        set(i "0${i}")
    endif()
    file(WRITE "${repo}/f${i}/README" "folder ${i} of the analyzer path\n")
endforeach()
set(last "${repo}/g[1]*?/demo")
file(MAKE_DIRECTORY "${last}/level.cases")
file(COPY "${fixtures}/level.lua" DESTINATION "${last}")
file(COPY "${fixtures}/level.cases/quiet" DESTINATION "${last}/level.cases")
foreach(step "init;-q" "add;-A" "-c;user.name=test;-c;user.email=test@localhost;commit;-qm;base")
    execute_process(COMMAND git ${step} WORKING_DIRECTORY "${repo}" RESULT_VARIABLE rc
                    ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "setup: git ${step}: ${err}")
    endif()
endforeach()
