local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "an analysis that only churns garbage is collected, not stopped, under a tight budget",
  run = function(ctx)
    local big = string.rep("x", 1000000)
    for i = 1, 300 do local u = big:upper() end
    local parts = {}
    for i = 1, 1000 do parts[i] = "abcdefghij" end
    for i = 1, 3000 do local c = table.concat(parts, ",") end
    for i = 1, 200 do local t = {} for j = 1, 10000 do t[j] = j end end
    ctx:conclude("contained")
  end,
}
