-- tests/service/analyzers/svc/slow.lua -- a slow analyzer for the service's reliability tests
-- (tests/reliability/): it waits 'ms' milliseconds on one call to the `mock` http connector
-- (mock_http's /delay/MS, started by tests/support/stack), so an analysis stays running, holding
-- its lease and its slot, without spending CPU; then it concludes like svc.noop. With 'key', the
-- call carries ?key=KEY, which mock_http counts (/count/KEY): a test waits on that count to know
-- its analyses are inside their call, running in a worker, rather than sleeping.
local inquest = require "inquest"
local t = inquest.types

return inquest.analyzer {
  name        = "svc.slow",
  owner       = "team-inquest",
  description = "Waits on one slow connector call, then concludes with one finding.",
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$" },
    n       = t.int { default = 0, min = 0 },
    ms      = t.int { default = 2000, min = 0, max = 60000 },
    key     = t.string { optional = true, pattern = "^[a-z0-9-]+$" },
  },
  run = function(ctx, input)
    local answer = ctx.http("mock"):get("/delay/{ms}", {
      params = { ms = tostring(input.ms) },
      query = input.key and { key = input.key } or nil,
    })
    ctx:finding {
      title = ("slow ran for %s after %d ms"):format(input.service, answer.delayed_ms),
      severity = "info",
      confidence = 1,
      root_cause = "slow",
    }
    ctx:conclude("slow", "waited")
  end,
}
