local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "string.format refuses absurd widths",
  run = function(ctx)
    local ok, err = pcall(string.format, "%" .. string.rep("9", 50) .. "d", 1)
    assert(not ok, "accepted")
    ctx:conclude("contained")
  end,
}
