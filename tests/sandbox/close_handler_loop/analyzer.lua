local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a to-be-closed variable whose __close loops is stopped",
  run = function(ctx)
    pcall(function()
      local x <close> = setmetatable({}, { __close = function() while true do end end })
      error("leave")
    end)
  end,
}
