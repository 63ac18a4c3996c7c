local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "shared tables do not multiply in JSON",
  run = function(ctx)
    local t = { v = "x" } -- 22 levels of { a = t, b = t }: a few KiB of Lua, 2^22 places
    for i = 1, 22 do t = { a = t, b = t } end
    ctx:finding { title = "x", actions = { { type = "t", args = t } } }
  end,
}
