local inquest = require "inquest"
return inquest.analyzer {
  name = "deep.d3", owner = "tests", description = "calls deep.d4",
  run = function(ctx)
    local r = ctx:call("deep.d4")
    if r.status ~= "ok" then error(r.errors[1].message, 0) end
  end,
}
