local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a huge error message is cut in the result (test_engine checks the length)",
  run = function(ctx)
    ctx:step("fails", function() error(string.rep("x", 1000000), 0) end)
  end,
}
