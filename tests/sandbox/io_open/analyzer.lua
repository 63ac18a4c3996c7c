local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "no io library",
  run = function(ctx)
    io.open("/etc/passwd")
  end,
}
