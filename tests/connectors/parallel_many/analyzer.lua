local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local fns = {}
    for i = 1, 100 do fns[i] = function() return ctx.http("mock"):get("/delay/100") end end
    local results, errors = ctx:parallel(fns)
    assert(next(errors) == nil, "no errors")
    for i = 1, 100 do assert(results[i].delayed_ms == 100) end
    ctx:conclude("all_answered")
  end,
}
