local inquest = require "inquest"
return inquest.analyzer {
  name = "nest.child", owner = "tests", description = "five calls side by side",
  run = function(ctx)
    local fns = {}
    for i = 1, 5 do fns[i] = function() return ctx.http("api"):get("/x") end end
    local results, errors = ctx:parallel(fns)
    local n = 0
    for _ in pairs(results) do n = n + 1 end
    for _, e in pairs(errors) do
      assert(tostring(e):find("made its 10 connector calls (limits.calls)", 1, true), e)
    end
    ctx:conclude("done", tostring(n))
  end,
}
