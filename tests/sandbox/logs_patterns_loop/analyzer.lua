local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests",
  description = "mining lines in C is charged, so a loop of few instructions over many lines meets the budget",
  run = function(ctx)
    local lines = {}
    for i = 1, 100000 do lines[i] = "request " .. i .. " from 10.0.0.1 took 12 ms" end
    while true do inquest.logs.patterns(lines) end
  end,
}
