local inquest = require "inquest"
return inquest.analyzer {
  name = "cycle.a", owner = "tests", description = "calls cycle.b",
  run = function(ctx)
    local r = ctx:call("cycle.b")
    if r.status ~= "ok" then error(r.errors[1].message, 0) end
  end,
}
