local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "require finds the SDK and analyzers/lib only",
  run = function(ctx)
    require "os"
  end,
}
