local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "recursion through pcall ends, and the process survives",
  run = function(ctx)
    local depth = 0
    local function f() depth = depth + 1; pcall(f) end
    f()
    assert(depth > 100)
    ctx:conclude("contained")
  end,
}
