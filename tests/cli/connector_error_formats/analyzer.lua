-- tests/cli/connector_error_formats: the messages of http:get's path template and of
-- limits.call_bytes, which lua_pushfstring could not format (%.*s, %.1f: "invalid option").
local inquest = require "inquest"

return inquest.analyzer {
  name = "tests.connector_error_formats",
  owner = "tests",
  description = "connector errors read as sentences",
  run = function(ctx)
    local api = ctx.http("api")
    local said = {}
    local ok, err = pcall(api.get, api, "/items/{item}", { params = { other = "x" } })
    said[#said + 1] = err
    ok, err = pcall(api.get, api, "/items/{item}", { params = { item = ("x"):rep(600) } })
    said[#said + 1] = err
    assert(api:get("/big")) -- 2 KiB as received: over limits.call_bytes (1 KiB)
    ok, err = pcall(api.get, api, "/big")
    said[#said + 1] = err
    ctx:conclude("said", table.concat(said, " | "))
  end,
}
