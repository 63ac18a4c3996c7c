-- tests/sdk/analyzers/budget/prom_answer.lua -- asks Prometheus for a range whose answer may not
-- fit the memory budget, then for a small one, and concludes with what the first call said
-- (tests/unit/test_engine.c).
local inquest = require "inquest"
local t = inquest.types

return inquest.analyzer {
  name        = "budget.prom_answer",
  owner       = "team-inquest",
  description = "Queries the range 'big' (unless big=false) and then 'small'.",
  inputs      = { big = t.bool { default = true } },
  run = function(ctx, input)
    local prom = ctx.metrics("prom")
    local big, err
    if input.big then
      big, err = prom:range("big", 1000, 1003, 1)
    end
    local small = assert(prom:range("small", 1000, 1003, 1)) -- the analysis goes on
    local tag = big and "decoded" or err and "refused" or "skipped"
    ctx:conclude(tag, ("%s; small: %d series"):format(err, #small))
  end,
}
