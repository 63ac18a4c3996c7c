local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a metatable whose __index adds __gc during the check gets no finalizer",
  run = function(ctx)
    local mt = setmetatable({}, { __index = function(m, k)
      if k == "__gc" then rawset(m, "__gc", function() while true do end end) end
    end })
    local t = setmetatable({}, mt)
    t = nil
    collectgarbage()
    ctx:conclude("contained")
  end,
}
