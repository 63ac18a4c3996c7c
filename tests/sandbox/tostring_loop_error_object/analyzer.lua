local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "an error object whose __tostring loops is never called by the host",
  run = function(ctx)
    error(setmetatable({}, { __tostring = function() while true do end end }))
  end,
}
