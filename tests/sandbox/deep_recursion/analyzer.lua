local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "unbounded recursion ends with a stack overflow error",
  run = function(ctx)
    local function f(n) return 1 + f(n + 1) end
    f(1)
  end,
}
