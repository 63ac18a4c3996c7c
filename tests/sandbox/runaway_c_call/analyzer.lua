local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a C call that never returns is ended by the parent at the deadline",
  run = function(ctx)
    ctx:conclude("never_reached")
  end,
}
