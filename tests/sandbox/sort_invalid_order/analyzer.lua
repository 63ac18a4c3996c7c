local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "an inconsistent comparator gives an error, not a crash",
  run = function(ctx)
    local t = {}
    for i = 1, 1000 do t[i] = i % 7 end
    pcall(table.sort, t, function(a, b) return true end)
    ctx:conclude("contained")
  end,
}
