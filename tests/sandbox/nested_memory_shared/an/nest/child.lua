local inquest = require "inquest"
return inquest.analyzer {
  name = "nest.child", owner = "tests", description = "holds 4 MiB between two calls",
  run = function(ctx)
    ctx.http("api"):get("/x") -- all four wait here, then each takes 4 MiB in turn
    local held = ("x"):rep(4 << 20)
    ctx.http("api"):get("/x") -- and holds it while the others take theirs
    ctx:conclude("done", tostring(#held))
  end,
}
