local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a looping body and a looping handler are both stopped",
  run = function(ctx)
    xpcall(function() while true do end end, function() while true do end end)
  end,
}
