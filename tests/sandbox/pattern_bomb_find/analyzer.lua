local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a pathological pattern is stopped inside string.find",
  run = function(ctx)
    return string.find(string.rep('a', 1000), '.-.-.-b')
  end,
}
