-- tests/unit/preempt/slice/shared.lua -- a coroutine that one function of a ctx:parallel is
-- computing in when it is preempted, which the other then tries to resume, close and read the
-- status of: it is in a resume, so it is "normal" and may be neither (tests/unit/test_preempt.c).
local inquest = require "inquest"
local t = inquest.types

local function sum(n)
  local s = 0
  for i = 1, n do s = s + i end
  return s
end

return inquest.analyzer {
  name = "slice.shared", owner = "team-inquest", description = "Shares a coroutine between tasks.",
  inputs = { n = t.int { min = 1 } },
  run = function(ctx, input)
    local co = coroutine.create(function() return sum(input.n) end)
    local results, errors = ctx:parallel {
      function()
        local ok, v = coroutine.resume(co)
        return (ok and "" or "error: ") .. tostring(v)
      end,
      function()
        local status = coroutine.status(co)
        local resumed, why = coroutine.resume(co)
        local closed, close_why = pcall(coroutine.close, co)
        return table.concat({status, tostring(resumed), tostring(why), tostring(closed),
                             tostring(close_why)}, "|")
      end,
    }
    assert(next(errors) == nil, "ctx:parallel failed")
    ctx:conclude("shared", results[1] .. " " .. results[2])
  end,
}
