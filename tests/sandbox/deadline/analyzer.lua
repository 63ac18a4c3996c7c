local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a loop under a huge instruction budget meets the deadline",
  run = function(ctx)
    while true do end
  end,
}
