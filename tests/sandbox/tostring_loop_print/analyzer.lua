local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "print of a value whose __tostring loops is stopped by the budget",
  run = function(ctx)
    print(setmetatable({}, { __tostring = function() while true do end end }))
  end,
}
