local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "doubling a string runs into the budget",
  run = function(ctx)
    local s = "x"
    while true do s = s .. s end
  end,
}
