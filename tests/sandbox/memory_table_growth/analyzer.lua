local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a growing table ends with memory_exceeded",
  run = function(ctx)
    local t = {}
    for i = 1, 1e9 do t[i] = i end
  end,
}
