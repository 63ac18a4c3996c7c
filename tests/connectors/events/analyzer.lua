local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local deploys = assert(ctx.events("deploys"):list { service = "checkout", from = "2026-11-20T13:00:00Z", to = "2026-11-20T15:00:00Z" })
    local found
    for _, d in ipairs(deploys) do if d.id == "d-4711" then found = d end end
    assert(found and found.time == 1795183200 and found.kind == "deploys" and found.service == "checkout", "d-4711 at 14:00")
    local echo = assert(ctx.http("deploys"):get("/echo"))
    -- The credential is sent; the backend's echo of it is redacted before Lua sees it.
    assert(echo.headers.authorization == "Bearer [redacted]", echo.headers.authorization)
    local text = assert(ctx.http("deploys"):get("/echo", { raw = true }))
    assert(not text:find("test-token-7f3a", 1, true), "a raw body holds the credential")
    assert(not pcall(ctx.events, "prom"), "prom has no events")
    ctx:finding { title = "deploys", evidence = { { kind = "events", items = { found } } } }
    ctx:conclude("listed")
  end,
}
