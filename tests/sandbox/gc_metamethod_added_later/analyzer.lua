local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a __gc added after setmetatable never runs",
  run = function(ctx)
    local mt = {}
    local t = setmetatable({}, mt)
    mt.__gc = function() while true do end end
    t = nil
    collectgarbage()
    collectgarbage()
    ctx:conclude("contained")
  end,
}
