# demo.level with one real case (eu-spike) and links where case files and folders would be:
# case.json -> /etc/passwd, case.json -> /dev/stdin (a read would wait forever), recording.json
# -> /proc/self/environ, a case folder that is a link, and demo.other whose whole .cases folder
# is a link; and a case.json that is a FIFO (opening it for reading would wait for a writer).
# The harness reads none of them.
set(demo "${WORK}/analyzers/demo")
set(cases "${demo}/level.cases")
set(fixtures "${SRC}/tests/fixtures/backtest/analyzers/demo")
file(MAKE_DIRECTORY "${cases}/link-passwd" "${cases}/link-stdin" "${cases}/link-environ"
     "${cases}/fifo")
execute_process(COMMAND mkfifo "${cases}/fifo/case.json" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "setup: mkfifo failed")
endif()
file(COPY "${fixtures}/level.lua" DESTINATION "${demo}")
file(COPY "${fixtures}/level.cases/eu-spike" DESTINATION "${cases}")
file(CREATE_LINK /etc/passwd "${cases}/link-passwd/case.json" SYMBOLIC)
file(CREATE_LINK /dev/stdin "${cases}/link-stdin/case.json" SYMBOLIC)
file(COPY "${fixtures}/level.cases/eu-spike/case.json" DESTINATION "${cases}/link-environ")
file(CREATE_LINK /proc/self/environ "${cases}/link-environ/recording.json" SYMBOLIC)
file(CREATE_LINK "${cases}/eu-spike" "${cases}/linked-folder" SYMBOLIC)
file(READ "${fixtures}/level.lua" text)
string(REPLACE "demo.level" "demo.other" text "${text}")
file(WRITE "${demo}/other.lua" "${text}")
file(CREATE_LINK "${cases}" "${demo}/other.cases" SYMBOLIC)
