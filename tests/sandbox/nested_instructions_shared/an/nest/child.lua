local inquest = require "inquest"
return inquest.analyzer {
  name = "nest.child", owner = "tests", description = "a call, then a million instructions",
  run = function(ctx)
    ctx.http("api"):get("/x") -- all four wait here at once, each started with the budget left
    local n = 0
    for i = 1, 1000000 do n = n + i end
    ctx:conclude("done", tostring(n))
  end,
}
