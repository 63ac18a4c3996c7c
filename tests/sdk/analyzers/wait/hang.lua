-- tests/sdk/analyzers/wait/hang.lua -- waits on a connector that never answers, for
-- cancellation tests (tests/unit/test_engine.c).
local inquest = require "inquest"

return inquest.analyzer {
  name        = "wait.hang",
  owner       = "team-inquest",
  description = "Calls the connector 'hang' and waits for its answer.",
  inputs      = {},
  run = function(ctx)
    local body, err = ctx.http("hang"):get("/")
    ctx:conclude { tag = "answered", summary = tostring(err) }
  end,
}
