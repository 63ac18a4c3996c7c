local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local loki = ctx.logs("loki")
    local logs = assert(loki:logs('{service="checkout"} |= "error"', "2026-11-20T14:00:00Z", "2026-11-20T14:30:00Z"))
    assert(#logs > 0 and logs[1].labels.service == "checkout", "entries with their stream's labels")
    for i = 2, #logs do assert(logs[i - 1].time <= logs[i].time, "sorted by time") end
    local timeouts = 0
    for _, e in ipairs(logs) do
      if e.line:find("payment gateway timeout", 1, true) then timeouts = timeouts + 1 end
    end
    assert(timeouts > 0, "the gateway timeouts are there")
    local rate = assert(loki:metrics('sum by (region) (rate({service="checkout"} |= "timeout" [1m]))', "2026-11-20T14:00:00Z", "2026-11-20T14:30:00Z", 60))
    assert(#rate >= 1, "a metric query gives series")
    local none, err = loki:logs('{service="checkout"} | syntax_error', "2026-11-20T14:00:00Z", "2026-11-20T14:30:00Z")
    assert(none == nil and err:find("^loki: HTTP 400: parse error"), err)
    local wrong, why = loki:logs('count_over_time({service="checkout"}[1m])', "2026-11-20T14:00:00Z", "2026-11-20T14:30:00Z")
    assert(wrong == nil and why:find("use :metrics", 1, true), why)
    ctx:conclude("read")
  end,
}
