local inquest = require "inquest"
return inquest.analyzer {
  name = "nest.child", owner = "tests", description = "loops until the deadline",
  run = function(ctx)
    while true do end
  end,
}
