# The repository of backtest_base_head_stall, then a change that breaks the cases' own files in
# the working tree: quiet's case.json is no JSON, eu-spike's recording.json is gone.
include("${SRC}/tests/cli/backtest_base_head_stall/setup.cmake")
file(WRITE "${WORK}/repo/analyzers/demo/level.cases/quiet/case.json" "{\"schema\": \n")
file(REMOVE "${WORK}/repo/analyzers/demo/level.cases/eu-spike/recording.json")
