local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a loop inside a coroutine is counted too",
  run = function(ctx)
    local co = coroutine.wrap(function() while true do end end)
    co()
  end,
}
