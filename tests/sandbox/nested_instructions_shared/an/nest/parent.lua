-- tests/sandbox/nested_instructions_shared: four nested analyses side by side, each waiting for
-- a call and then running a million instructions, under 3,000,000 for the whole tree.
local inquest = require "inquest"
return inquest.analyzer {
  name = "nest.parent", owner = "tests", description = "nested analyses share the root's instructions",
  run = function(ctx)
    local fns = {}
    for i = 1, 4 do fns[i] = function() return ctx:call("nest.child") end end
    ctx:parallel(fns)
    ctx:conclude("went_on")
  end,
}
