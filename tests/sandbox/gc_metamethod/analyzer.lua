local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "__gc finalizers are refused: they run outside the budgets",
  run = function(ctx)
    setmetatable({}, { __gc = function() while true do end end })
  end,
}
