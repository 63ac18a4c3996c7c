local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "full collections are charged, so a loop of them meets the budget",
  run = function(ctx)
    local hold = {}
    for i = 1, 200000 do hold[i] = { i } end
    while true do collectgarbage() end
  end,
}
