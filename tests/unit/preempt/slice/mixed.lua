-- tests/unit/preempt/slice/mixed.lua -- long computations where a preemption must not show:
-- inside coroutines the analyzer made (a coroutine.wrap that computes and returns, a generator
-- that yields), inside pcall and xpcall, in a table.sort comparator (where a C call lies
-- between: no yield there), side by side in ctx:parallel and in a nested analysis (ctx:call).
-- It concludes with every value it computed; tests/unit/test_preempt.c checks them.
local inquest = require "inquest"
local t = inquest.types

local function sum(n)
  local s = 0
  for i = 1, n do s = s + i end
  return s
end

return inquest.analyzer {
  name = "slice.mixed", owner = "team-inquest", description = "Computes in every kind of frame.",
  inputs = { n = t.int { min = 1 } },
  run = function(ctx, input)
    local n = input.n
    local got = {}
    -- a coroutine that computes for long, then returns
    got[#got + 1] = coroutine.wrap(function() return sum(n) end)()
    -- a generator: its caller (the task) computes between its yields
    local gen = coroutine.wrap(function()
      for i = 1, n // 1000 do coroutine.yield(sum(1000) + i) end
      return "end"
    end)
    local g = 0
    for _ = 1, n // 1000 do g = g + gen() end
    assert(gen() == "end", "the generator ended early")
    got[#got + 1] = g
    -- protected calls
    local ok, v = pcall(sum, n)
    assert(ok, v)
    got[#got + 1] = v
    ok, v = xpcall(function() return sum(n) end, function(e) return "handled: " .. tostring(e) end)
    assert(ok, v)
    got[#got + 1] = v
    ok, v = xpcall(function() sum(n); error("boom", 0) end, function(e) sum(n // 4); return "handled: " .. e end)
    assert(not ok and v == "handled: boom", tostring(v))
    -- a comparator runs under table.sort, a C function: not yieldable there
    local list = {}
    for i = 1, 300 do list[i] = (i * 7919) % 300 end
    table.sort(list, function(a, b) sum(200); return a < b end)
    for i = 2, #list do assert(list[i - 1] <= list[i]) end
    got[#got + 1] = list[#list]
    -- side by side, and nested
    local results, errors = ctx:parallel {
      function() return sum(n) end,
      function() return sum(n // 2) end,
    }
    assert(next(errors) == nil, "ctx:parallel failed")
    got[#got + 1] = results[1]
    got[#got + 1] = results[2]
    local nested = ctx:call("slice.count", { n = n })
    assert(nested.status == "ok", nested.status)
    got[#got + 1] = nested.conclusion.summary
    for i = 1, #got do got[i] = string.format(math.type(got[i]) and "%d" or "%s", got[i]) end
    ctx:conclude("computed", table.concat(got, " "))
  end,
}
