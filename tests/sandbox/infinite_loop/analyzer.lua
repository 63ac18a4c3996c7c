local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "an infinite loop ends with cpu_exceeded where it stood",
  run = function(ctx)
    local n = 0
    while true do n = n + 1 end
  end,
}
