local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "yielding from run itself is an error, not a hang",
  run = function(ctx)
    coroutine.yield()
  end,
}
