local inquest = require "inquest"
return inquest.analyzer {
  name = "cycle.b", owner = "tests", description = "calls cycle.a",
  run = function(ctx)
    local r = ctx:call("cycle.a")
    if r.status ~= "ok" then error(r.errors[1].message, 0) end
  end,
}
