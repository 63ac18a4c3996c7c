local inquest = require "inquest"
return inquest.analyzer {
  name = "chain.fails", owner = "tests", description = "a callee that raises",
  run = function(ctx) error("callee broke") end,
}
