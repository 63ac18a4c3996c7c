-- tests/service/analyzers/e2e/error_rate.lua -- the analyzer of the end-to-end test
-- (tests/e2e/alert_to_analysis): which status code carries a service's error ratio, read from
-- Prometheus through the `prom` connector. Its finding cites what it read (the ratio at ctx.now,
-- the code, the scrape's job and instance), so the test can check it against Prometheus itself.
local inquest = require "inquest"
local t = inquest.types

return inquest.analyzer {
  name        = "e2e.error_rate",
  owner       = "team-inquest",
  description = "Which status code carries a service's 5xx ratio, from http_requests_total.",
  inputs = {
    service     = t.string { required = true, pattern = "^[a-z0-9-]+$" },
    rate_window = t.duration { default = "1m", min = "1s", max = "1h" },
    lookback    = t.duration { default = "2m", min = "10s", max = "24h" },
    threshold   = t.number { default = 0.05, min = 0, max = 1 },
  },
  run = function(ctx, input)
    local prom = ctx.metrics("prom")
    local window = ("%ds"):format(math.floor(input.rate_window))
    local selector = ("http_requests_total{service=%q}"):format(input.service)
    -- One series per code (and per scrape target): the instant rates at ctx.now.
    local by_code = assert(ctx:step("rates by code", prom.query, prom,
      ("sum by (code, job, instance) (rate(%s[%s]))"):format(selector, window)))
    if #by_code == 0 then
      return ctx:conclude("no_data", ("no %s in Prometheus"):format(selector))
    end
    local total, errors, rows = 0, 0, {}
    local worst, worst_rate
    for _, s in ipairs(by_code) do
      local _, v = s:last()
      local code = s:label("code") or ""
      total = total + v
      if code:match("^5%d%d$") then
        errors = errors + v
        if not worst_rate or v > worst_rate then worst, worst_rate = s, v end
      end
      rows[#rows + 1] = { code, v, s:label("job") or "", s:label("instance") or "" }
    end
    table.sort(rows, function(a, b) return a[1] < b[1] end)
    local ratio = total > 0 and errors / total or 0
    if not worst or ratio < input.threshold then
      return ctx:conclude("no_anomaly",
        ("error ratio %.4f on %s, under %.4f"):format(ratio, input.service, input.threshold))
    end
    -- The ratio over the lookback, for the evidence and the onset.
    local ratio_expr = ('sum(rate(http_requests_total{service=%q,code=~"5.."}[%s])) / sum(rate(%s[%s]))')
      :format(input.service, window, selector, window)
    local history = assert(ctx:step("ratio over the lookback", prom.range, prom, ratio_expr,
      ctx.now - input.lookback, ctx.now, "1s"))
    local onset
    if #history > 0 then
      for tm, v in history[1]:points() do
        if v == v and v >= input.threshold then onset = tm break end
      end
    end
    local code = worst:label("code")
    local summary = ("error ratio %.4f (%.3f of %.3f req/s) on %s at %s; code %s carries %.3f req/s;"
      .. " scraped by job %s from %s"):format(ratio, errors, total, input.service,
      os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(ctx.now)), code, worst_rate,
      worst:label("job") or "?", worst:label("instance") or "?")
    if onset then
      summary = summary .. ("; over %.2f since %s"):format(input.threshold,
        os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(onset)))
    end
    ctx:finding {
      title = ("%s: %.0f%% of requests fail, mostly %s"):format(input.service, ratio * 100, code),
      summary = summary,
      root_cause = "http_errors.code_" .. code,
      severity = ratio >= 0.5 and "critical" or "high",
      confidence = worst_rate / errors,
      evidence = {
        { kind = "table", title = "request rates by code at ctx.now (req/s)",
          columns = { "code", "rate", "job", "instance" }, rows = rows },
        { kind = "table", title = "error ratio", columns = { "expr", "ratio" },
          rows = { { ratio_expr, ratio } } },
        history:evidence("error ratio over the lookback", "ratio"),
      },
    }
    ctx:conclude("root_cause_found", summary)
  end,
}
