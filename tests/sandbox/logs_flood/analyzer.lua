local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "logs are capped and the rest counted",
  run = function(ctx)
    for i = 1, 10000 do ctx.log("line %d", i) end
    ctx:conclude("contained")
  end,
}
