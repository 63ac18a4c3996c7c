-- tests/service/analyzers/svc/noop.lua -- the trivial analyzer of the service's tests and
-- benchmarks: typed inputs, one finding, no I/O.
local inquest = require "inquest"
local t = inquest.types

return inquest.analyzer {
  name        = "svc.noop",
  owner       = "team-inquest",
  description = "Concludes at once with one finding about its inputs.",
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$" },
    n       = t.int { default = 0, min = 0 },
  },
  run = function(ctx, input)
    ctx:finding {
      title = "noop ran for " .. input.service,
      severity = "info",
      confidence = 1,
      root_cause = "noop",
    }
    ctx:conclude("noop", "nothing to see")
  end,
}
