-- tests/connectors/record_case/analyzers/demo/deploys.lua -- an analyzer for `inquest record`'s
-- golden case: it lists deploys through the `deploys` connector (bearer token) and reads logs
-- through `loki`, both answered by mock_http, and blames the last deploy before 'at'.
local inquest = require "inquest"
local t = inquest.types

return inquest.analyzer {
  name = "demo.deploys",
  owner = "tests",
  description = "Which deploy came last before the trouble?",
  inputs = {
    service = t.string { required = true, pattern = "^[a-z0-9-]+$" },
    at = t.time { default = "now" },
  },
  run = function(ctx, input)
    local deploys = assert(ctx.events("deploys"):list {
      service = input.service, from = input.at - 3600, to = input.at })
    local logs = ctx.logs("loki"):logs(('{service=%q}'):format(input.service),
                                       input.at - 3600, input.at, { limit = 10 })
    local last
    for _, d in ipairs(deploys) do
      if d.service == input.service and d.time <= input.at then last = d end
    end
    if not last then return ctx:conclude("no_anomaly", "no deploy") end
    ctx:finding {
      title = ("deploy %s (%s) before %s"):format(last.id, last.service, os.date("!%H:%M", input.at)),
      root_cause = "bad_deploy", confidence = 0.8, severity = "high",
    }
    ctx:finding {
      title = ("%d log lines read"):format(logs and #logs or 0),
      root_cause = "noise", confidence = 0.2, severity = "info",
    }
    ctx:conclude("root_cause_found", "the last deploy")
  end,
}
