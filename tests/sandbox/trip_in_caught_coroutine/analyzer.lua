local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a budget that trips in a coroutine whose error is caught still ends the analysis with an error",
  run = function(ctx)
    coroutine.resume(coroutine.create(function() while true do end end))
  end,
}
