local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "an error handler that loops is stopped too",
  run = function(ctx)
    xpcall(function() error("x") end, function() while true do end end)
  end,
}
