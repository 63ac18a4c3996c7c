local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local results, errors = ctx:parallel {
      ok = function() return ctx.http("mock"):get("/delay/10") end,
      hang = function() return ctx.http("slow"):get("/hang") end,
      big = function() return ctx.http("tiny"):get("/bytes/5000") end,
      refused = function() return ctx.http("closed"):get("/x") end,
      failing = function() return ctx.http("mock"):get("/status/503") end,
      raised = function() error("boom") end,
      tls = function() return ctx.http("tls"):get("/x") end,
      truncated = function() return ctx.http("mock"):get("/api/truncated") end,
      html = function() return ctx.http("mock"):get("/bytes/10", { raw = true }) end,
    }
    assert(results.ok and results.ok.delayed_ms == 10, "a failing sibling breaks nothing")
    assert(errors.hang:find("^slow: no answer within 500ms"), errors.hang)
    assert(errors.big:find("^tiny: response larger than the 1 KiB cap"), errors.big)
    assert(errors.refused:find("^closed: connection refused"), errors.refused)
    assert(errors.failing:find("^mock: HTTP 503"), errors.failing)
    assert(errors.raised:find("boom"), errors.raised)
    assert(errors.tls:find("^tls: TLS"), errors.tls)
    assert(errors.truncated:find("^mock: malformed JSON at line 1"), errors.truncated)
    assert(#results.html == 10, "raw text")
    local ok, err = pcall(ctx.metrics, "nope")
    assert(not ok and err:find("no connector named 'nope'"), err)
    local ok2, err2 = pcall(ctx.metrics, "loki")
    assert(not ok2 and err2:find("is a loki connector"), err2)
    ctx:conclude("survived")
  end,
}
