-- tests/bench/fanout.lua -- bench analyzer: N calls to one path, all at once (ctx:parallel) or
-- one after another, with the body left as text so that JSON parsing is not measured.
local inquest = require "inquest"
local t = inquest.types
return inquest.analyzer {
  name = "bench.fanout", owner = "bench", description = "many connector calls",
  inputs = {
    calls = t.int { default = 100, min = 0, max = 100000 },
    path = t.string { default = "/delay/100" },
    parallel = t.bool { default = true },
  },
  run = function(ctx, input)
    local h = ctx.http("bench")
    local call = function() return assert(h:get(input.path, { raw = true })) end
    if input.parallel then
      local fns = {}
      for i = 1, input.calls do fns[i] = call end
      local _, errors = ctx:parallel(fns)
      assert(next(errors) == nil, "a call failed")
    else
      for _ = 1, input.calls do call() end
    end
    ctx:conclude("done")
  end,
}
