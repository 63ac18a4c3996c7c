local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "no package library",
  run = function(ctx)
    package.loadlib("libc.so.6", "system")
  end,
}
