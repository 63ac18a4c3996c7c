local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local set, err = ctx.metrics("prom"):query("sum(rate(http_requests_total[1m]")
    assert(set == nil)
    ctx:conclude("refused", err)
  end,
}
