local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "ctx:parallel's errors hold what each function raised",
  run = function(ctx)
    local api = ctx.http("api")
    local marker = {}
    local _, errors = ctx:parallel {
      in_c = function() return api:get("no-slash") end, -- raised by a C function, under its arguments
      in_lua = function() error("boom") end,
      object = function() error(marker) end,
    }
    assert(type(errors.in_c) == "string" and errors.in_c:find("the path must start with '/'", 1, true),
           tostring(errors.in_c))
    assert(errors.in_lua:find("analyzer.lua:9: boom", 1, true), errors.in_lua)
    assert(errors.object == marker, tostring(errors.object))
    ctx:conclude("errors_kept")
  end,
}
