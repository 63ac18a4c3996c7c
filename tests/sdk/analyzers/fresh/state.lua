-- Leaves a mark on everything a fresh state of the engine starts with (test_engine.c,
-- test_fresh_state_each): the analysis after it must find none of them.
local inquest = require "inquest"
return inquest.analyzer {
  name = "fresh.state", owner = "tests", description = "finds and leaves marks on its state",
  run = function(ctx)
    local places = {
      globals = _G,
      inquest = inquest,
      types = inquest.types,
      log = ctx.log,
      methods = getmetatable(ctx).__index,
      string = string,
    }
    local found = {}
    for name, place in pairs(places) do
      if rawget(place, "mark") ~= nil then found[#found + 1] = name end
      rawset(place, "mark", true)
    end
    table.sort(found)
    ctx:conclude(#found == 0 and "fresh" or "marked", table.concat(found, " ") .. " " .. math.random(1000000))
  end,
}
