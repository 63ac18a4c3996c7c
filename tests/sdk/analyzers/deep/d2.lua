local inquest = require "inquest"
return inquest.analyzer {
  name = "deep.d2", owner = "tests", description = "calls deep.d3",
  run = function(ctx)
    local r = ctx:call("deep.d3")
    if r.status ~= "ok" then error(r.errors[1].message, 0) end
  end,
}
