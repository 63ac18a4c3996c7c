-- The analysis' clock, seeded randomness, require and the allow-listed globals.
local inquest = require "inquest"
return inquest.analyzer {
  name = "sdk.sandbox_test", owner = "tests", description = "clock, random, require",
  run = function(ctx)
    assert(ctx.now == 1795262400, ctx.now) -- --now 2026-11-21T12:00:00Z
    assert(os.time() == ctx.now)
    assert(os.date("!%Y-%m-%dT%H:%M:%SZ") == "2026-11-21T12:00:00Z", os.date("!%Y-%m-%dT%H:%M:%SZ"))
    assert(os.date("%H:%M", ctx.now - 90) == "11:58")
    local d = os.date("*t")
    assert(d.year == 2026 and d.month == 11 and d.day == 21 and d.hour == 12)
    assert(os.time { year = 2026, month = 11, day = 21, hour = 12 } == ctx.now)
    assert(ctx.id == "sdk-test" and ctx.analyzer == "sdk.sandbox_test")

    -- math.random is seeded from the id: the sequence is fixed for --id sdk-test.
    local a, b = math.random(1, 1000000), math.random(1, 1000000)
    math.randomseed(0)
    assert(a ~= b)

    local util = require "lib.util"
    assert(util.double(21) == 42)
    assert(require "lib.util" == util and util.loaded == 1)
    assert(inquest.version:match("^%d+%.%d+%.%d+$"))

    local allowed = {}
    for _, k in ipairs { "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal",
      "rawget", "rawlen", "rawset", "select", "setmetatable", "getmetatable", "tonumber",
      "tostring", "type", "xpcall", "_G", "_VERSION", "require", "load", "collectgarbage",
      "print", "string", "table", "math", "utf8", "coroutine", "os" } do allowed[k] = true end
    for k in pairs(_G) do assert(allowed[k], "unexpected global " .. tostring(k)) end

    print("printed", 1, true)
    ctx.log.warn("warned %d", 2)
    ctx:conclude("passed")
  end,
}
