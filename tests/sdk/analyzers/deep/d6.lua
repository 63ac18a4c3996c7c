local inquest = require "inquest"
return inquest.analyzer {
  name = "deep.d6", owner = "tests", description = "calls deep.d7",
  run = function(ctx)
    local r = ctx:call("deep.d7")
    if r.status ~= "ok" then error(r.errors[1].message, 0) end
  end,
}
