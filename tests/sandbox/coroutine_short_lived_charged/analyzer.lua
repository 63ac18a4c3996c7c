local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "many short coroutines are charged to the instruction budget",
  run = function(ctx)
    for i = 1, 1e6 do coroutine.wrap(function() end)() end
  end,
}
