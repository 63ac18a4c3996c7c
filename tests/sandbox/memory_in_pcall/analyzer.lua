local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "pcall cannot swallow the memory budget",
  run = function(ctx)
    local keep = {}
    while true do
      local ok, s = pcall(string.rep, "x", 1 << 20)
      keep[#keep + 1] = s
    end
  end,
}
