-- examples/hello/hello.lua -- a small analyzer that shows the SDK's parts: typed inputs,
-- steps, a finding with evidence, a suggested action and a conclusion. `make demo` runs it.
local inquest = require "inquest"
local t = inquest.types

return inquest.analyzer {
  name        = "examples.hello",
  owner       = "team-inquest",
  description = "Did the error rate of a service jump in a window? (a demo on made-up data)",
  version     = "1.0.0",
  tags        = { "demo" },
  inputs = {
    service   = t.string   { pattern = "^[a-z0-9-]+$", description = "the service to look at" },
    at        = t.time     { default = "now", description = "end of the window" },
    window    = t.duration { default = "30m", min = "5m", max = "24h" },
    threshold = t.number   { default = 0.05, min = 0, max = 1, description = "error ratio" },
  },
  run = function(ctx, input)
    -- Made-up data: a flat error ratio that jumps two thirds into the window.
    local points = ctx:step("generate error ratio", function()
      local pts, start, step = {}, input.at - input.window, input.window / 30
      for i = 0, 30 do
        local ratio = i < 20 and 0.01 + (i % 3) * 0.002 or 0.12 + (i % 2) * 0.01
        pts[#pts + 1] = { start + i * step, ratio }
      end
      return pts
    end)
    local jump = ctx:step("find the jump", function()
      for i = 2, #points do
        if points[i][2] > input.threshold and points[i - 1][2] <= input.threshold then
          return points[i]
        end
      end
    end)
    if not jump then
      return ctx:conclude("no_anomaly", ("error ratio of %s stayed under %.0f%%"):format(
        input.service, input.threshold * 100))
    end
    ctx.log("error ratio crossed %.2f at %s", input.threshold, os.date("!%H:%M:%S", jump[1]))
    ctx:finding {
      title = ("Error ratio of %s jumped to %.0f%%"):format(input.service, jump[2] * 100),
      summary = "The error ratio crossed the threshold and stayed above it.",
      root_cause = "error_spike",
      severity = "high",
      confidence = 0.7,
      evidence = {
        { kind = "timeseries", title = "error ratio", unit = "ratio",
          series = { { labels = { service = input.service }, points = points } } },
        { kind = "events", title = "changes near the jump",
          items = { { time = jump[1] - 120, kind = "deploy", service = input.service,
                      id = "demo-42", text = "deploy demo-42 (made up)" } } },
      },
      actions = { { type = "rollback", args = { deploy = "demo-42" },
                    description = "roll back the deploy just before the jump" } },
    }
    ctx:conclude("root_cause_found", ("%s: errors jumped at %s, 2 minutes after deploy demo-42"):format(
      input.service, os.date("!%H:%M", jump[1])))
  end,
}
