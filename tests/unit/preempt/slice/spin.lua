-- tests/unit/preempt/slice/spin.lua -- computes until a budget, a deadline or a cancellation
-- ends it, never yielding for I/O (tests/unit/test_preempt.c).
local inquest = require "inquest"

return inquest.analyzer {
  name = "slice.spin", owner = "team-inquest", description = "Loops forever.",
  run = function(ctx)
    while true do end
  end,
}
