-- tests/bench/trivial.lua -- the benchmark's trivial analyzer: 4 typed inputs, one finding.
local inquest = require "inquest"
local t = inquest.types

return inquest.analyzer {
  name = "bench.trivial",
  owner = "bench",
  description = "validate four typed inputs and emit one finding",
  inputs = {
    service = t.string   { pattern = "^[a-z0-9-]+$" },
    at      = t.time     { default = "now" },
    window  = t.duration { default = "30m", min = "5m", max = "24h" },
    region  = t.enum     { "us-east", "eu-west" },
  },
  run = function(ctx, input)
    ctx:finding {
      title = "5xx on " .. input.service,
      root_cause = "bad_deploy",
      confidence = 0.8,
      evidence = { { kind = "text", text = input.region } },
    }
  end,
}
