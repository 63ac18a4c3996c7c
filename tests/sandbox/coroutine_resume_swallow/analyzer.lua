local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "coroutine.resume cannot swallow a tripped budget",
  run = function(ctx)
    while true do
      coroutine.resume(coroutine.create(function() while true do end end))
    end
  end,
}
