-- The connectors rules' actions name (a mitigation endpoint, a Slack webhook) are the
-- post-processor's: with them, an analyzer could act past policies, approvals and the audit.
local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "an action's connector is out of reach",
  run = function(ctx)
    local refused = {}
    for _, try in ipairs { { ctx.http, "mitigate" }, { ctx.http, "slack" }, { ctx.events, "slack" } } do
      local ok, err = pcall(try[1], try[2])
      assert(not ok, "an analyzer got the action connector " .. try[2])
      assert(err:find("is reserved for actions", 1, true), err)
      refused[#refused + 1] = err:match("ctx%.%a+: connector '%a+'")
    end
    -- The list of connectors an unknown name gets holds only the analyzers' own.
    local ok, err = pcall(ctx.http, "nope")
    assert(not ok and err:find("(connectors: api)", 1, true), err)
    -- The analyzers' own connector still works (nothing listens: an expected failure).
    local answer, why = ctx.http("api"):get("/x")
    assert(answer == nil and why:find("^api: "), why)
    ctx:conclude("contained", table.concat(refused, " | "))
  end,
}
