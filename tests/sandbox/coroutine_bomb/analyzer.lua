local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "coroutines kept alive run into the memory budget",
  run = function(ctx)
    local cos = {}
    while true do cos[#cos + 1] = coroutine.create(function() end) end
  end,
}
