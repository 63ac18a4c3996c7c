local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a protected metatable cannot be replaced",
  run = function(ctx)
    local t = setmetatable({}, { __metatable = "locked" })
    assert(getmetatable(t) == "locked")
    assert(not pcall(setmetatable, t, {}))
    ctx:conclude("contained")
  end,
}
