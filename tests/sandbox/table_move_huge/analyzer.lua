local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "table.move over a huge range is charged to the instruction budget",
  run = function(ctx)
    table.move({}, 1, math.maxinteger - 1, 1, {})
  end,
}
