local inquest = require "inquest"
return inquest.analyzer {
  name = "it.case", owner = "tests", description = "connector case",
  run = function(ctx)
    local prom = ctx.metrics("prom")
    local set = assert(prom:range('sum by (endpoint) (rate(http_requests_total{service="checkout",region="eu-west",code=~"5.."}[2m]))',
                                  "2026-11-20T14:00:00Z", "2026-11-20T14:30:00Z", "60s"))
    assert(#set == 3, "three endpoints, got " .. #set)
    local pay = set:filter { endpoint = "/pay" }[1]
    assert(#pay == 31, "31 points, got " .. #pay)
    assert(pay:max() > 1 and pay:first() == 1795183200, "the spike is there: " .. pay:max())
    local now = assert(prom:query('sum(rate(http_requests_total{code=~"5.."}[1m]))', "2026-11-20T14:10:00Z"))
    assert(#now == 1 and select(2, now[1]:last()) > 1, "an instant vector of one series")
    local series = assert(prom:series('http_requests_total{service="checkout",endpoint="/pay",code="500"}'))
    assert(#series == 2 and series[1].__name__ == "http_requests_total", "two series of labels")
    local values = assert(prom:label_values("endpoint", { match = 'http_requests_total{service="checkout"}' }))
    assert(table.concat(values, ",") == "/cart,/pay,/search", table.concat(values, ","))
    ctx:conclude("queried")
  end,
}
