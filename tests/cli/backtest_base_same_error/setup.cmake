# A git repository in @WORK@/repo whose one analyzer raises the same error in the working tree
# as at HEAD.
set(repo "${WORK}/repo")
file(COPY "${SRC}/tests/fixtures/backtest/boom/demo" DESTINATION "${repo}/analyzers")
foreach(step "init;-q" "add;-A" "-c;user.name=test;-c;user.email=test@localhost;commit;-qm;base")
    execute_process(COMMAND git ${step} WORKING_DIRECTORY "${repo}" RESULT_VARIABLE rc
                    ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "setup: git ${step}: ${err}")
    endif()
endforeach()
