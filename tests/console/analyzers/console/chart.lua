-- tests/console/analyzers/console/chart.lua -- the analyzer of the console's browser tests
-- (tests/console/): typed inputs of every kind the analyzer form draws, one call to the `mock`
-- http connector (mock_http's /delay/MS, so the page has a call with timing and the list sees the
-- analysis running for 'ms'), and findings with every kind of evidence: a time series with a step
-- in it, its change point and anomalies (events of kind change_point and anomaly, which the
-- console marks on the chart), a deploy event, log patterns, a table and text.
local inquest = require "inquest"
local t = inquest.types
local S = inquest.series

return inquest.analyzer {
  name        = "console.chart",
  owner       = "team-console",
  description = "A synthetic error-rate step with its change point, for the console's tests.",
  inputs = {
    service = t.string { required = true, pattern = "^[a-z0-9-]+$", description = "the service" },
    points  = t.int { default = 60, min = 10, max = 500, description = "points in the series" },
    step    = t.number { default = 0.2, min = 0, max = 1, description = "height of the step" },
    window  = t.duration { default = "30m", min = "5m", max = "24h" },
    region  = t.enum { "us-east", "eu-west", optional = true },
    noisy   = t.bool { default = false },
    at      = t.time { default = "now" },
    ms      = t.int { default = 0, min = 0, max = 60000, description = "ms to wait on mock" },
  },
  run = function(ctx, input)
    ctx:step("wait on mock", function()
      return ctx.http("mock"):get("/delay/{ms}", { params = { ms = tostring(input.ms) } })
    end)
    local n, start = input.points, input.at - input.window
    local dt = input.window / n
    local change = math.floor(n * 2 / 3)
    local times, values = {}, {}
    for i = 1, n do
      times[i] = start + (i - 1) * dt
      local wiggle = input.noisy and 0.01 * math.sin(i) or 0.002 * (i % 3)
      values[i] = 0.01 + wiggle + (i > change and input.step or 0)
    end
    local errors = S.new { labels = { service = input.service, code = "500" }, times = times, values = values }
    local ok = S.new { labels = { service = input.service, code = "200" }, times = times,
                       values = (function() local v = {} for i = 1, n do v[i] = 0.9 - values[i] / 2 end return v end)() }
    local at = times[change + 1]
    ctx:step("find the change point", function() return at end)
    ctx:finding {
      title = ("%s: 5xx ratio stepped up by %.2f"):format(input.service, input.step),
      summary = "The error ratio stepped up right after deploy 4711.",
      root_cause = "bad_deploy",
      severity = "high",
      confidence = 0.87,
      evidence = {
        S.set { errors, ok }:evidence("error ratio by code", "ratio"),
        { kind = "events", title = "change points", items = {
          { time = at, kind = "change_point", text = ("mean %.3f to %.3f"):format(0.011, 0.011 + input.step) } } },
        { kind = "events", title = "anomalies", items = {
          { time = times[change + 2], kind = "anomaly", text = "3.1 sigma" },
          { time = times[change + 4], kind = "anomaly", text = "2.7 sigma" } } },
        { kind = "events", title = "deploys", items = {
          { time = at - dt / 2, kind = "deploy", service = input.service, id = "4711", text = "v2.3.1 rolled out" } } },
        { kind = "log_patterns", title = "new log patterns", items = {
          { pattern = "upstream timeout after <*> ms", count = 1289, sample = "upstream timeout after 3000 ms" },
          { pattern = "connection reset by peer", count = 77 } } },
        { kind = "table", title = "by endpoint", columns = { "endpoint", "5xx/s", "share" },
          rows = { { "/cart", 4.2, 0.81 }, { "/pay", 1.0, 0.19 } } },
        { kind = "text", title = "note", text = "Deploy 4711 changed the upstream timeout." },
      },
      actions = { { type = "rollback", args = { deploy = "4711" }, description = "roll back 4711" } },
    }
    ctx:finding {
      title = "Traffic is flat", severity = "info", confidence = 0.31, root_cause = "none",
      evidence = { ok:evidence("2xx ratio", "ratio") },
    }
    ctx:conclude("root_cause_found", ("deploy 4711 raised the 5xx ratio of %s"):format(input.service))
  end,
}
