local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "a task's thread cannot be resumed from Lua",
  run = function(ctx)
    -- The first function computes until the second is done: its slice ends, the count hook
    -- preempts it, and the second starts while the first's thread is suspended.
    local first, done
    local results = ctx:parallel {
      function() first = coroutine.running(); while not done do end; return "first" end,
      function()
        local ok, err = pcall(coroutine.resume, first)
        local closed, err2 = pcall(coroutine.close, first)
        done = true
        return tostring(ok) .. " " .. tostring(err) .. " | " .. tostring(closed) .. " " .. tostring(err2)
      end,
    }
    ctx:conclude("refused", results[1] .. " | " .. results[2])
  end,
}
