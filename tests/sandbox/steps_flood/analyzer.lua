local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "steps are capped",
  run = function(ctx)
    for i = 1, 2000 do ctx:step("s", function() end) end
    ctx:conclude("contained")
  end,
}
