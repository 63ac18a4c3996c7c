-- tests/sandbox/nested_deadline: the nested analysis runs into the deadline it shares with its
-- caller, which must not go on and conclude past it.
local inquest = require "inquest"
return inquest.analyzer {
  name = "nest.parent", owner = "tests", description = "a nested analysis meets the shared deadline",
  run = function(ctx)
    local r = ctx:call("nest.child")
    ctx:conclude("went_on", r.status)
  end,
}
