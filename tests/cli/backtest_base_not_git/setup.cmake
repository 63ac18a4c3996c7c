# The fixture's analyzers in @WORK@, where git finds no repository (env: GIT_CEILING_DIRECTORIES).
file(COPY "${SRC}/tests/fixtures/backtest/analyzers" DESTINATION "${WORK}")
