local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "the string metatable cannot be reached",
  run = function(ctx)
    assert(getmetatable("") == false)
    local ok, err = pcall(function() return getmetatable("").__index end)
    assert(not ok and err:find("boolean"), err)
    assert(("x"):rep(3) == "xxx")
    ctx:conclude("contained")
  end,
}
