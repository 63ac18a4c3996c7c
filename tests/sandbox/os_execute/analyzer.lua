local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "os.execute does not exist",
  run = function(ctx)
    os.execute("id")
  end,
}
