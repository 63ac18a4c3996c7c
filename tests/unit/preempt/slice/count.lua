-- tests/unit/preempt/slice/count.lua -- computes the sum 1 + 2 + ... + n in Lua, with no I/O,
-- and concludes with it (tests/unit/test_preempt.c).
local inquest = require "inquest"
local t = inquest.types

local function sum(n)
  local s = 0
  for i = 1, n do s = s + i end
  return s
end

return inquest.analyzer {
  name = "slice.count", owner = "team-inquest", description = "Sums 1..n.",
  inputs = { n = t.int { min = 0 } },
  run = function(ctx, input)
    ctx:conclude("counted", string.format("%d", sum(input.n)))
  end,
}
