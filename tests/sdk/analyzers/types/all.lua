local inquest = require "inquest"
local t = inquest.types
return inquest.analyzer {
  name = "types.all", owner = "tests", description = "one input of every type",
  inputs = {
    service = t.string   { pattern = "^[a-z0-9-]+$", max_length = 20 },
    count   = t.int      { min = 1, max = 10, default = 3 },
    ratio   = t.number   { min = 0, max = 1, optional = true },
    verbose = t.bool     { default = false },
    region  = t.enum     { "us-east", "eu-west", optional = true },
    window  = t.duration { default = "30m", min = "5m", max = "24h" },
    at      = t.time     { default = "now-1h" },
    tags    = t.list     { t.string { pattern = "^[a-z]+$" }, optional = true, max = 3 },
    labels  = t.map      { t.string {}, optional = true },
  },
  run = function(ctx, input) ctx:conclude("echo") end,
}
