local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "text loaded with load runs in the same sandbox",
  run = function(ctx)
    local f = assert(load("return io, os.execute, debug, package"))
    assert(select("#", f()) == 4 and f() == nil)
    local g = assert(load("return x", "=chunk", "t", { x = 42 }))
    assert(g() == 42)
    ctx:conclude("contained")
  end,
}
