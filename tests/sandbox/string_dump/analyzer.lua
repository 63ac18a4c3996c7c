local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "string.dump is gone",
  run = function(ctx)
    local s = string.dump(function() end)
  end,
}
