local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "dofile and loadfile are gone",
  run = function(ctx)
    assert(dofile == nil and loadfile == nil and warn == nil)
    ctx:conclude("contained")
  end,
}
