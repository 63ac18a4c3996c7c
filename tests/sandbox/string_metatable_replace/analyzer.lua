local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "the string metatable cannot be replaced",
  run = function(ctx)
    local ok, err = pcall(setmetatable, "", {})
    assert(not ok, "setmetatable on a string")
    ctx:conclude("contained")
  end,
}
