-- Dot segments, plain or percent-encoded, would take a connector's credential out of its base
-- URL ("/tenant-a/../_search" reaches every tenant): refused before anything is sent.
local inquest = require "inquest"
return inquest.analyzer {
  name = "sandbox.case", owner = "tests", description = "paths stay under the connector's URL",
  run = function(ctx)
    local api, es = ctx.http("api"), ctx.search("es")
    local tries = {
      function() return api:get("/../../admin") end,
      function() return api:get("/%2e%2E/%2E%2e/admin") end,
      function() return api:get("/a/.%2e/admin", { raw = true }) end,
      function() return api:get("/x/{id}", { params = { id = ".." } }) end,
      function() return api:post("/./x/../y", {}) end,
      function() return api:list { from = 0, to = 1, team = ".." } end,
      function() return es:search("..", { query = { match_all = {} } }) end,
      function() return es:search(".", { query = { match_all = {} } }) end,
    }
    local messages = {}
    for i, try in ipairs(tries) do
      local ok, err = pcall(try)
      assert(not ok, "try " .. i .. " was sent")
      messages[#messages + 1] = err:match("^[^:]*:%d+: (.*)$")
    end
    -- What does not climb still goes out (nothing listens: an expected failure).
    local answer, why = api:get("/a/..b/...")
    assert(answer == nil and why:find("connection refused", 1, true), why)
    ctx:conclude("contained", table.concat(messages, " | "))
  end,
}
