-- tests/unit/preempt/slice/spin_co.lua -- computes forever inside a coroutine that another
-- coroutine resumes, never yielding for I/O: time slicing must reach it there too
-- (tests/unit/test_preempt.c).
local inquest = require "inquest"

return inquest.analyzer {
  name = "slice.spin_co", owner = "team-inquest", description = "Loops forever two coroutines deep.",
  run = function(ctx)
    local inner = coroutine.create(function()
      while true do end
    end)
    coroutine.wrap(function() return coroutine.resume(inner) end)()
  end,
}
