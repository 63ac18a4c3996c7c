local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    -- A second ctx:parallel after the first one's threads were collected: a new thread may take
    -- a collected one's address, and must not be mistaken for its finished task.
    local get = function() return ctx.http("mock"):get("/delay/1") end
    for round = 1, 20 do
      local results, errors = ctx:parallel { get, get, get }
      local key, err = next(errors)
      assert(key == nil, ("round %d: %s"):format(round, tostring(err)))
      assert(#results == 3)
      collectgarbage("collect")
    end
    ctx:conclude("all_answered")
  end,
}
