local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a coroutine the budget ended is not closed with hooks off",
  run = function(ctx)
    coroutine.wrap(function()
      local x <close> = setmetatable({}, { __close = function() while true do end end })
      while true do end
    end)()
  end,
}
