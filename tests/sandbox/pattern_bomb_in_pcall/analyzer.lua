local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "pcall cannot swallow a pattern that trips the budget",
  run = function(ctx)
    for i = 1, 100 do pcall(string.find, string.rep('a', 1000), '.-.-.-b') end
    ctx:conclude("contained")
  end,
}
