local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "an analysis keeps at most 50 findings",
  run = function(ctx)
    for i = 1, 51 do ctx:finding { title = "f" .. i } end
  end,
}
