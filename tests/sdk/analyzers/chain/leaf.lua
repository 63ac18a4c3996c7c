local inquest = require "inquest"
local t = inquest.types
return inquest.analyzer {
  name = "chain.leaf", owner = "tests", description = "the callee of chain_test",
  inputs = { service = t.string {}, window = t.duration { default = "5m" } },
  run = function(ctx, input)
    ctx:finding { title = "leaf saw " .. input.service, root_cause = "leaf", confidence = 0.9 }
    ctx:conclude("root_cause_found", ("window %d s, now %d"):format(input.window, ctx.now))
  end,
}
