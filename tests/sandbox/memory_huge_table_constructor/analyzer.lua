local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "table.move and table.concat respect the budget",
  run = function(ctx)
    local t = table.move({}, 1, 1e8, 1, {})
    local parts = {}
    for i = 1, 1e7 do parts[i] = "abcdefgh" end
    local s = table.concat(parts)
  end,
}
