-- tests/sandbox/nested_calls_share_budget: five nested analyses side by side, five calls each,
-- under limits.calls = 10 for the whole tree: ten calls are made, not twenty-five.
local inquest = require "inquest"
return inquest.analyzer {
  name = "nest.parent", owner = "tests", description = "nested analyses share the root's calls",
  run = function(ctx)
    local fns = {}
    for i = 1, 5 do fns[i] = function() return ctx:call("nest.child") end end
    local results = ctx:parallel(fns)
    local answered, refused = 0, 0
    for i = 1, 5 do
      local r = results[i]
      assert(r.status == "ok", r.status)
      local got = tonumber(r.conclusion.summary)
      answered, refused = answered + got, refused + 5 - got
    end
    ctx:conclude("shared", ("answered %d, refused %d"):format(answered, refused))
  end,
}
