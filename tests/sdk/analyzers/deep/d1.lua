local inquest = require "inquest"
return inquest.analyzer {
  name = "deep.d1", owner = "tests", description = "calls deep.d2",
  run = function(ctx)
    local r = ctx:call("deep.d2")
    if r.status ~= "ok" then error(r.errors[1].message, 0) end
  end,
}
