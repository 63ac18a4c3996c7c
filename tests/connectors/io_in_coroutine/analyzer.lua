local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local co = coroutine.wrap(function() return ctx.http("mock"):get("/delay/1") end)
    co()
  end,
}
