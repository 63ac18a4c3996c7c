local inquest = require "inquest"
return inquest.analyzer {
  name = "deep.d5", owner = "tests", description = "calls deep.d6",
  run = function(ctx)
    local r = ctx:call("deep.d6")
    if r.status ~= "ok" then error(r.errors[1].message, 0) end
  end,
}
