local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "string.rep cannot allocate past the memory budget",
  run = function(ctx)
    local s = string.rep("x", 1 << 30)
  end,
}
