local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a pathological pattern is stopped inside string.gsub",
  run = function(ctx)
    return (string.rep('a', 2000)):gsub('.-.-.-.-b', 'x')
  end,
}
