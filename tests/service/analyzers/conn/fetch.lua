-- tests/service/analyzers/conn/fetch.lua -- one call to the `mock` http connector, answered or
-- failed as its inputs ask, for the tests of the connector metrics (tests/api/metrics): status
-- 200 is mock_http's /delay/MS (200 after 'ms' milliseconds), any other its /status/CODE (that
-- status, retried like any failed read, then an error). A failed call is no failed analysis: it
-- concludes "call_failed" with the connector's message. Apart from svc.* (tests/api/tokens and
-- tests/api/signals list exactly those).
local inquest = require "inquest"
local t = inquest.types

return inquest.analyzer {
  name        = "conn.fetch",
  owner       = "team-inquest",
  description = "Makes one call to the mock connector, answered 200 or failed with a status.",
  inputs = {
    service = t.string { pattern = "^[a-z0-9-]+$" },
    n       = t.int { default = 0, min = 0 },
    status  = t.int { default = 200, min = 200, max = 599 },
    ms      = t.int { default = 0, min = 0, max = 60000 },
  },
  run = function(ctx, input)
    local mock = ctx.http("mock")
    local answer, err
    if input.status == 200 then
      answer, err = mock:get("/delay/{ms}", { params = { ms = tostring(input.ms) } })
    else
      answer, err = mock:get("/status/{code}", { params = { code = tostring(input.status) } })
    end
    if not answer then
      return ctx:conclude("call_failed", err)
    end
    ctx:conclude("called", ("answered after %d ms"):format(answer.delayed_ms))
  end,
}
