local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "no debug library",
  run = function(ctx)
    debug.sethook()
  end,
}
