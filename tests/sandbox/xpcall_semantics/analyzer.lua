local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "xpcall still returns results and handles errors",
  run = function(ctx)
    local ok, a, b = xpcall(function(x, y) return x + y, "two" end, print, 1, 2)
    assert(ok == true and a == 3 and b == "two")
    local ok2, msg = xpcall(function() error("boom", 0) end, function(e) return "handled " .. e end)
    assert(ok2 == false and msg == "handled boom", msg)
    ctx:conclude("contained")
  end,
}
