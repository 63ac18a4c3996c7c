local inquest = require "inquest"
return inquest.analyzer {
  name = "deep.d4", owner = "tests", description = "calls deep.d5",
  run = function(ctx)
    local r = ctx:call("deep.d5")
    if r.status ~= "ok" then error(r.errors[1].message, 0) end
  end,
}
