# demo.level on the analyzer path in @WORK@, where the case would go beside it.
file(COPY "${SRC}/tests/fixtures/backtest/analyzers/demo/level.lua"
     DESTINATION "${WORK}/analyzers/demo")
