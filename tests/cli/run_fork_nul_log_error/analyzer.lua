-- A log line holding a NUL (written as \u0000 in the result), then an error: the forked run
-- must read the child's result back and exit 1 with the error, not 0 with nothing.
local inquest = require "inquest"
return inquest.analyzer {
  name = "case.nul_log_error", owner = "tests", description = "logs a NUL, then fails",
  run = function(ctx)
    ctx.log("x\0")
    error("the analysis failed")
  end,
}
