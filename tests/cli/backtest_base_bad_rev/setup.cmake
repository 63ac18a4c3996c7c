include("${SRC}/tests/cli/backtest_base/setup.cmake")
