local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests",
  description = "a miner's shapes are in the analysis' memory: distinct lines without end meet the budget",
  run = function(ctx)
    local m = inquest.logs.miner { max_shapes = 10000000 }
    for i = 1, 10000000 do m:add(("user%d logged in at node%d"):format(i, i)) end
  end,
}
