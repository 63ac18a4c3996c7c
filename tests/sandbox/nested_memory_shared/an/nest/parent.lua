-- tests/sandbox/nested_memory_shared: four nested analyses side by side, each holding 4 MiB at
-- once, under a memory budget of 14 MiB for the whole tree.
local inquest = require "inquest"
return inquest.analyzer {
  name = "nest.parent", owner = "tests", description = "nested analyses share the root's memory",
  run = function(ctx)
    local fns = {}
    for i = 1, 4 do fns[i] = function() return ctx:call("nest.child") end end
    local results = ctx:parallel(fns)
    local statuses = {}
    for i = 1, 4 do statuses[i] = results[i].status end
    ctx:conclude("held", table.concat(statuses, " "))
  end,
}
