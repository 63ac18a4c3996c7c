include("${SRC}/tests/cli/backtest_base_head_stall/setup.cmake")
