local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "the deadline holds inside the pattern matcher",
  run = function(ctx)
    return string.match(string.rep('a', 5000), '.-.-.-.-.-b')
  end,
}
