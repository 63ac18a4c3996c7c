local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "pcall cannot swallow the instruction budget",
  run = function(ctx)
    while true do
      pcall(function() while true do end end)
    end
  end,
}
